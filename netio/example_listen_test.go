package netio_test

import (
	"errors"
	"fmt"
	"io"
	"net"

	"github.com/coopgo/coop/netio"
	"github.com/coopgo/coop/sched"
)

// The net package's accept loop, on a scheduler: Accept parks the task
// that calls it, and each connection gets a task of its own that reads and
// writes blocking-style. The client is a task of the same scheduler, so
// the whole exchange runs on one thread. Server adds what a production
// accept loop needs (panic isolation, back-off on EMFILE, timeouts,
// graceful shutdown): see ExampleServer.
func ExampleListen() {
	s := sched.New()
	l, err := netio.Listen(s, "tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Println(err)
		return
	}
	s.Go(func() {
		for {
			c, err := l.Accept()
			if err != nil {
				// l was closed: the loop ends, and Run with it. (Server
				// retries with back-off the errors that pass, EMFILE.)
				if !errors.Is(err, net.ErrClosed) {
					fmt.Println(err)
				}
				return
			}
			s.Go(func() {
				defer c.Close()
				io.Copy(c, c) // echo until the client's half-close
			})
		}
	})
	s.Go(func() {
		defer l.Close()
		c, err := netio.Dial(s, "tcp", l.Addr().String())
		if err != nil {
			fmt.Println(err)
			return
		}
		defer c.Close()
		io.WriteString(c, "hello, coop")
		c.CloseWrite()
		reply, err := io.ReadAll(c)
		fmt.Printf("%q %v\n", reply, err)
	})
	if err := s.Run(); err != nil { // returns when every task has finished
		fmt.Println(err)
	}
	// Output: "hello, coop" <nil>
}
