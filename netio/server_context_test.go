//go:build linux || darwin || dragonfly || freebsd || netbsd || openbsd

package netio_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/coopgo/coop/netio"
	"github.com/coopgo/coop/sched"
)

type ctxKey string

// TestServerContexts: BaseContext and ConnContext give every connection a
// context, in both modes, that the handler reads with sched.Context; in
// task mode, the end of the base context ends a handler waiting in Read
// with the context's cause, and the handler may still write before it
// returns.
func TestServerContexts(t *testing.T) {
	for _, mode := range []string{"task", "ready"} {
		t.Run(mode, func(t *testing.T) {
			s := runScheduler(t)
			l, err := netio.Listen(s, "tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			cause := errors.New("maintenance")
			base, cancel := context.WithCancelCause(context.WithValue(context.Background(), ctxKey("base"), "b"))
			defer cancel(nil)
			bases := make(chan *netio.Listener, 4)
			srv := &netio.Server{
				BaseContext: func(got *netio.Listener) context.Context {
					bases <- got
					return base
				},
				ConnContext: func(ctx context.Context, c *netio.Conn) context.Context {
					return context.WithValue(ctx, ctxKey("conn"), c.RemoteAddr().String())
				},
			}
			describe := func() string {
				ctx := sched.Context()
				return fmt.Sprintf("%v %v\n", ctx.Value(ctxKey("base")), ctx.Value(ctxKey("conn")))
			}
			if mode == "task" {
				srv.Handler = func(c *netio.Conn) {
					c.Write([]byte(describe()))
					_, err := c.Read(make([]byte, 1)) // idle until the base context ends
					fmt.Fprintf(c, "%v %v %v\n", errors.Is(err, context.Canceled), errors.Is(err, cause), errors.Is(err, sched.ErrInterrupted))
				}
			} else {
				srv.Ready = func(c *netio.Conn) error {
					if _, err := c.Read(make([]byte, 1)); err != nil {
						return err
					}
					_, err := c.Write([]byte(describe()))
					return err
				}
			}
			served := make(chan error, 1)
			go func() { served <- srv.Serve(l) }()
			defer func() {
				srv.Close()
				<-served
			}()

			c, err := net.Dial("tcp", l.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(10 * time.Second))
			r := bufio.NewReader(c)
			if mode == "ready" {
				c.Write([]byte("?"))
			}
			line, err := r.ReadString('\n')
			if err != nil {
				t.Fatal(err)
			}
			if want := "b " + c.LocalAddr().String() + "\n"; line != want {
				t.Errorf("handler's context gave %q, want %q", line, want)
			}
			if len(bases) != 1 || <-bases != l {
				t.Errorf("BaseContext not called once with the listener")
			}
			if mode == "ready" {
				return
			}
			cancel(cause)
			line, err = r.ReadString('\n')
			if want := "true true true\n"; err != nil || line != want {
				t.Errorf("after the base context ended the handler wrote %q (%v), want %q", line, err, want)
			}
			if _, err := r.ReadByte(); err != io.EOF {
				t.Errorf("connection not closed after the handler returned: %v", err)
			}
		})
	}
}

// A handler under the server's context: BaseContext gives every
// connection one, ConnContext adds the client's address, and cancelling
// it ends handlers that wait for a next request.
func ExampleServer_BaseContext() {
	s := sched.New()
	l, err := netio.Listen(s, "tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	base, stop := context.WithCancelCause(context.Background())
	srv := &netio.Server{
		BaseContext: func(*netio.Listener) context.Context { return base },
		ConnContext: func(ctx context.Context, c *netio.Conn) context.Context {
			return context.WithValue(ctx, ctxKey("peer"), c.RemoteAddr())
		},
		Handler: func(c *netio.Conn) {
			fmt.Fprintf(c, "hello %v\n", sched.Context().Value(ctxKey("peer")) != nil)
			_, err := c.Read(make([]byte, 1)) // the client sends nothing
			fmt.Fprintf(c, "goodbye (%v): %v\n", errors.Is(err, context.Canceled), context.Cause(sched.Context()))
		},
	}
	s.Go(func() { srv.Serve(l) })
	go func() {
		c, err := net.Dial("tcp", l.Addr().String())
		if err != nil {
			panic(err)
		}
		r := bufio.NewReader(c)
		hello, _ := r.ReadString('\n')
		fmt.Print(hello)
		stop(errors.New("going down for maintenance"))
		bye, _ := r.ReadString('\n')
		fmt.Print(strings.TrimSpace(bye), "\n")
		c.Close()
		srv.Shutdown(context.Background())
	}()
	if err := s.Run(); err != nil {
		panic(err)
	}
	// Output:
	// hello true
	// goodbye (true): going down for maintenance
}
