package netio_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/coopgo/coop/netio"
	"github.com/coopgo/coop/sched"
)

// DialContext dials from a task under a context, as net.Dialer does: the
// context's deadline bounds the dial, and a context that has ended fails
// it with net's error, which matches the context's.
func ExampleDialContext() {
	s := sched.New()
	l, err := netio.Listen(s, "tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Println(err)
		return
	}
	s.Go(func() {
		defer l.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		c, err := netio.DialContext(ctx, s, "tcp", l.Addr().String())
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println("connected:", c.RemoteAddr().String() == l.Addr().String())
		c.Close()

		ended, stop := context.WithCancel(context.Background())
		stop()
		_, err = netio.DialContext(ended, s, "tcp", l.Addr().String())
		fmt.Println(errors.Is(err, context.Canceled))
	})
	if err := s.Run(); err != nil {
		fmt.Println(err)
	}
	// Output:
	// connected: true
	// true
}
