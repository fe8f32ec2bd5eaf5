//go:build linux

package models

import (
	"fmt"
	"net"
	"os"
	"time"
)

func init() {
	Register(Model{
		Name:  "net",
		What:  "goroutine per connection, package net, GOMAXPROCS=1",
		Serve: serveNet,
	})
	Register(Model{
		Name:       "net-2",
		What:       "goroutine per connection, package net, GOMAXPROCS=2, both CPUs (shared with the client)",
		GOMAXPROCS: 2,
		MultiCore:  true,
		Serve:      serveNet,
	})
}

// serveNet is the idiomatic Go server: one goroutine per connection doing
// blocking-style Read and Write, which the runtime turns into non-blocking
// syscalls and netpoller waits.
func serveNet(opt Options) error {
	ln, err := net.Listen("tcp4", opt.Addr)
	if err != nil {
		return err
	}
	opt.Ready(ln.Addr().String())
	for {
		c, err := ln.Accept()
		if err != nil {
			if isTemporaryAccept(err) {
				// Back off instead of spinning on EMFILE; keep serving.
				fmt.Fprintf(os.Stderr, "net: accept: %v; retrying in 10ms\n", err)
				time.Sleep(10 * time.Millisecond)
				continue
			}
			return err
		}
		go func() {
			endSession("net", echoConn(c, opt.BufSize))
		}()
	}
}

// echoConn serves one connection. net.TCPConn already has TCP_NODELAY on.
func echoConn(c net.Conn, size int) error {
	defer c.Close()
	buf := make([]byte, size)
	for {
		n, err := c.Read(buf)
		if n > 0 {
			if _, werr := c.Write(buf[:n]); werr != nil {
				return werr
			}
		}
		if err != nil {
			return err
		}
	}
}
