//go:build linux

package clients

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/coopgo/coop/bench/internal/child"
	"github.com/coopgo/coop/bench/internal/harness"
)

// The front-end part: wrk through a TCP front end to two backends, for
// examples/proxy against HAProxy and nginx's stream proxy. The front end
// runs pinned to the server CPU, alone: its CPU time per proxied request
// is the figure. The backends (examples/http -mode ready -cores 1
// -proxy-protocol, GOMAXPROCS=1) run pinned to the client CPU with wrk,
// the same two for every front end; each front end sends them a PROXY
// header (v2; nginx's proxy_protocol sends v1) and balances round robin
// over them, and wrk's keep-alive connections make every request cross
// the front end on a connection it already has to its backend.
var frontSpecs = []spec{
	{name: "coop-proxy", proto: "front", what: "examples/proxy -cores 1 -send-proxy, round robin, TCP health checks every 2 s (its default), GOMAXPROCS=1; bytes moved with splice(2)",
		start: (*env).coopProxy},
	{name: "haproxy", proto: "front", tool: "haproxy", pkg: "haproxy", what: "mode tcp, nbthread 1, send-proxy-v2, balance roundrobin, TCP checks every 2 s",
		start: (*env).haproxy},
	{name: "nginx stream", proto: "front", tool: "nginx", pkg: "nginx-light", what: "stream module, one worker (master_process on), proxy_protocol on (v1), round robin",
		start: (*env).nginxStream, needs: nginxStreamModule},
}

// nginxStreamModulePath is where Debian's libnginx-mod-stream puts the
// module; nginx-light builds it as a dynamic module.
const nginxStreamModulePath = "/usr/lib/nginx/modules/ngx_stream_module.so"

func nginxStreamModule() string {
	if _, err := os.Stat(nginxStreamModulePath); err != nil {
		return "nginx's stream module not installed (apt install libnginx-mod-stream)"
	}
	return ""
}

// FrontSteps is the number of progress steps RunFront reports.
func FrontSteps(p Plan) int {
	n := 1 // the build and the backends
	for _, sp := range frontSpecs {
		n += 1 + len(sp.rows(p))
	}
	return n
}

// RunFront measures the front-end rows, as Run measures its HTTP rows:
// every front end runs throughout, a warm-up run against each, then
// Repeats rounds of one wrk run against each in turn.
func RunFront(p Plan, doing, step func(string)) []Result {
	e, done, setupErr := newEnv(p, "wrk", "haproxy", "nginx")
	defer done()
	doing("front end: build examples/http, examples/proxy; start the backends")
	if setupErr == nil {
		setupErr = e.build("http", "proxy")
	}
	var backends []*server
	if setupErr == nil && e.taskset != "" {
		backends, setupErr = e.startBackends(2)
	}
	defer func() {
		for _, b := range backends {
			b.stop()
		}
	}()
	step("front end: build examples/http, examples/proxy; start the backends")
	for _, b := range backends {
		e.backends = append(e.backends, b.addr)
	}

	out := e.serve(frontSpecs, setupErr, e.runHTTP, doing, step)
	// A backend that died under the load spoils every row.
	for _, b := range backends {
		if err := b.alive(); err != nil {
			for i := range out {
				if out[i].Error == "" && out[i].Skipped == "" {
					out[i].Error = "a backend exited: " + err.Error()
				}
			}
		}
	}
	return out
}

// startBackends starts n examples/http backends pinned to the client CPU.
func (e *env) startBackends(n int) ([]*server, error) {
	var bs []*server
	for i := range n {
		s, err := e.startPinned(fmt.Sprintf("backend %d", i+1), strconv.Itoa(harness.ClientCPU), func(addr string) (*exec.Cmd, error) {
			cmd := child.External(e.bins["http"], "-addr", addr, "-mode", "ready", "-cores", "1", "-proxy-protocol")
			cmd.Env = append(os.Environ(), "GOMAXPROCS=1")
			return cmd, nil
		})
		if err == nil {
			bs = append(bs, s)
			continue
		}
		for _, b := range bs {
			b.stop()
		}
		return nil, err
	}
	return bs, nil
}

// coopProxy returns examples/proxy's command.
func (e *env) coopProxy(addr string) (*exec.Cmd, error) {
	cmd := child.External(e.bins["proxy"], "-addr", addr, "-cores", "1", "-send-proxy", "-backends", strings.Join(e.backends, ","))
	cmd.Env = append(os.Environ(), "GOMAXPROCS=1")
	return cmd, nil
}

// haproxy writes HAProxy's configuration and returns its command
// (foreground, no daemon).
func (e *env) haproxy(addr string) (*exec.Cmd, error) {
	var b strings.Builder
	fmt.Fprintf(&b, `global
	nbthread 1
	# room for wrk's connections and their backends' within the
	# descriptor limit the study runs under: HAProxy asks for about
	# 2×maxconn descriptors and refuses to start without them.
	maxconn 400
defaults
	mode tcp
	timeout connect 2s
	timeout client 60s
	timeout server 60s
frontend fe
	bind %s
	default_backend be
backend be
	balance roundrobin
`, addr)
	for i, be := range e.backends {
		fmt.Fprintf(&b, "\tserver b%d %s send-proxy-v2 check inter 2s\n", i+1, be)
	}
	path := filepath.Join(e.tmp, "haproxy.cfg")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		return nil, err
	}
	return child.External(e.tools["haproxy"], "-db", "-f", path), nil
}

// nginxStream writes a configuration of nginx's stream proxy to a
// directory of its own and returns the command.
func (e *env) nginxStream(addr string) (*exec.Cmd, error) {
	dir, err := os.MkdirTemp(e.tmp, "nginx-stream-")
	if err != nil {
		return nil, err
	}
	var ups strings.Builder
	for _, be := range e.backends {
		fmt.Fprintf(&ups, "        server %s;\n", be)
	}
	conf := fmt.Sprintf(`load_module %s;
daemon off;
master_process on;
worker_processes 1;
pid %s;
error_log stderr warn;
events {
    worker_connections 4096;
}
stream {
    upstream farm {
%s    }
    server {
        listen %s;
        proxy_pass farm;
        proxy_protocol on;
    }
}
`, nginxStreamModulePath, filepath.Join(dir, "nginx.pid"), ups.String(), addr)
	path := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		return nil, err
	}
	return child.External(e.tools["nginx"], "-p", dir, "-c", path, "-e", "stderr"), nil
}
