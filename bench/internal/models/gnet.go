//go:build linux

package models

import (
	"github.com/panjf2000/gnet/v2"
	"github.com/panjf2000/gnet/v2/pkg/logging"
)

func init() {
	Register(Model{
		Name:  "gnet",
		What:  "gnet v2.9.7, one event loop (the library's defaults otherwise)",
		Serve: serveGnet,
	})
}

// gnetEcho is gnet's own echo example: take what arrived, write it back.
// c.Write on the event loop writes at once and buffers what the socket
// does not take.
type gnetEcho struct {
	gnet.BuiltinEventEngine
	addr  string
	ready func(string)
}

func (h *gnetEcho) OnBoot(gnet.Engine) gnet.Action {
	h.ready(h.addr)
	return gnet.None
}

func (h *gnetEcho) OnTraffic(c gnet.Conn) gnet.Action {
	buf, err := c.Next(-1)
	if err != nil {
		endSession("gnet", err)
		return gnet.Close
	}
	if _, err := c.Write(buf); err != nil {
		endSession("gnet", err)
		return gnet.Close
	}
	return gnet.None
}

// serveGnet runs gnet with one event loop on a locked thread, with its read
// buffer set to the study's read size (gnet's default is 64 KiB). TCP_NODELAY
// is gnet's default. gnet cannot adopt a listener, so it binds opt.Addr,
// which must name a port (the harness picks one).
func serveGnet(opt Options) error {
	h := &gnetEcho{addr: opt.Addr, ready: opt.Ready}
	return gnet.Run(h, "tcp4://"+opt.Addr,
		gnet.WithMulticore(false),
		gnet.WithNumEventLoop(1),
		gnet.WithLockOSThread(true),
		gnet.WithReadBufferCap(opt.BufSize),
		gnet.WithTCPNoDelay(gnet.TCPNoDelay),
		gnet.WithLogLevel(logging.ErrorLevel),
	)
}
