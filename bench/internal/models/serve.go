//go:build linux

package models

import (
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"

	"github.com/coopgo/coop/bench/internal/child"
	"github.com/coopgo/coop/bench/internal/echo"
	"github.com/coopgo/coop/bench/internal/rawsys"
)

// ServeRole is the child role of a server process.
const ServeRole = "serve"

// ReadyPrefix starts the line a server process prints on stdout once it
// accepts connections, followed by the address.
const ReadyPrefix = "READY "

func init() {
	child.Register(ServeRole, serveMain)
}

// ServeArgs are the arguments of the serve role, in the order ServeMain
// parses them.
func ServeArgs(model, addr string, conns int, cpus []int) []string {
	cs := make([]string, len(cpus))
	for i, c := range cpus {
		cs[i] = strconv.Itoa(c)
	}
	return []string{"-model", model, "-addr", addr, "-conns", strconv.Itoa(conns), "-cpus", strings.Join(cs, ","), "-buf", strconv.Itoa(echo.BufSize)}
}

// serveMain runs one model in this process: pin, raise the descriptor
// limit, serve, and print the ready line.
func serveMain(args []string) error {
	fs := flag.NewFlagSet(ServeRole, flag.ContinueOnError)
	name := fs.String("model", "", "model name")
	addr := fs.String("addr", "127.0.0.1:0", "listen address")
	conns := fs.Int("conns", 1, "most connections the run opens")
	cpus := fs.String("cpus", "", "CPUs to pin to, comma-separated; empty: no pinning")
	buf := fs.Int("buf", echo.BufSize, "read size")
	if err := fs.Parse(args); err != nil {
		return err
	}
	m, ok := Lookup(*name)
	if !ok {
		return fmt.Errorf("no model %q", *name)
	}
	if m.Serve == nil {
		return fmt.Errorf("model %s: skipped: %s", m.Name, m.Skip)
	}
	if *cpus != "" {
		var list []int
		for _, s := range strings.Split(*cpus, ",") {
			c, err := strconv.Atoi(s)
			if err != nil {
				return fmt.Errorf("-cpus %q: %w", *cpus, err)
			}
			list = append(list, c)
		}
		if err := rawsys.PinProcess(list...); err != nil {
			return err
		}
	}
	if _, err := rawsys.RaiseNoFile(); err != nil {
		return err
	}
	var once sync.Once
	opt := Options{Addr: *addr, Conns: *conns, BufSize: *buf, Ready: func(a string) {
		once.Do(func() { fmt.Fprintf(os.Stdout, "%s%s\n", ReadyPrefix, a) })
	}}
	err := m.Serve(opt)
	if err == nil {
		err = fmt.Errorf("Serve returned")
	}
	return fmt.Errorf("model %s: %w", m.Name, err)
}
