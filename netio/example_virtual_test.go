package netio_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/coopgo/coop/netio"
	"github.com/coopgo/coop/sched"
)

// Testing a server's 30-second idle timeout under virtual time, in no
// time at all. The client runs in the server's scheduler, as a task: the
// virtual clock jumps to the next timer only when every task waits, so a
// client outside (a goroutine with net.Dial) would race the jumps. The
// server's deadline is computed from time.Now(), as third-party code
// computes it; under virtual time it counts from the virtual now.
func Example_virtualTime() {
	s := sched.New(sched.WithVirtualTime(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)))
	l, err := netio.Listen(s, "tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Println(err)
		return
	}
	srv := &netio.Server{Handler: func(c *netio.Conn) {
		r := bufio.NewReader(c)
		for {
			c.SetReadDeadline(time.Now().Add(30 * time.Second))
			line, err := r.ReadString('\n')
			if errors.Is(err, os.ErrDeadlineExceeded) {
				fmt.Fprintf(c, "idle timeout\n")
			}
			if err != nil {
				return
			}
			fmt.Fprintf(c, "echo: %s", line)
		}
	}}
	s.Go(func() { srv.Serve(l) })
	s.Go(func() {
		defer srv.Shutdown(context.Background())
		c, err := netio.Dial(s, "tcp", l.Addr().String())
		if err != nil {
			fmt.Println(err)
			return
		}
		defer c.Close()
		r := bufio.NewReader(c)
		start := sched.Now()
		for _, pause := range []time.Duration{10 * time.Second, 29 * time.Second, 0} {
			if pause > 0 {
				sched.Sleep(pause)
				fmt.Fprintf(c, "after %v\n", pause)
			}
			line, err := r.ReadString('\n')
			if err != nil {
				fmt.Println(err)
				return
			}
			fmt.Printf("%v: %s", sched.Now().Sub(start), line)
		}
	})
	if err := s.Run(); err != nil {
		fmt.Println(err)
	}
	// Output:
	// 10s: echo: after 10s
	// 39s: echo: after 29s
	// 1m9s: idle timeout
}
