package netio_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/coopgo/coop/netio"
	"github.com/coopgo/coop/sched"
)

// A line server in task mode: each connection gets a task that reads and
// writes blocking-style.
func ExampleServer() {
	s := sched.New()
	l, err := netio.Listen(s, "tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	srv := &netio.Server{Handler: func(c *netio.Conn) {
		r := bufio.NewReader(c)
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			c.Write([]byte(strings.ToUpper(line)))
		}
	}}
	s.Go(func() { srv.Serve(l) })

	go func() {
		c, err := net.Dial("tcp", l.Addr().String())
		if err != nil {
			panic(err)
		}
		fmt.Fprintln(c, "hello, coop")
		reply, _ := bufio.NewReader(c).ReadString('\n')
		fmt.Print(reply)
		c.Close()
		srv.Shutdown(context.Background())
	}()
	if err := s.Run(); err != nil { // returns once the server is shut down
		panic(err)
	}
	// Output: HELLO, COOP
}

// The same server in ready mode: an idle connection holds no task and no
// stack; Ready runs when a request arrives and may block to finish it.
func ExampleServer_ready() {
	s := sched.New()
	l, err := netio.Listen(s, "tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	srv := &netio.Server{Ready: func(c *netio.Conn) error {
		buf := make([]byte, 512)
		n, err := c.Read(buf)
		if err != nil {
			return err // io.EOF included: the connection closes
		}
		_, err = c.Write([]byte(strings.ToUpper(string(buf[:n]))))
		return err
	}}
	s.Go(func() { srv.Serve(l) })

	go func() {
		c, err := net.Dial("tcp", l.Addr().String())
		if err != nil {
			panic(err)
		}
		fmt.Fprintln(c, "ready, set, go")
		reply, _ := bufio.NewReader(c).ReadString('\n')
		fmt.Print(reply)
		c.Close()
		srv.Shutdown(context.Background())
	}()
	if err := s.Run(); err != nil {
		panic(err)
	}
	// Output: READY, SET, GO
}

// One scheduler per core, each with its own SO_REUSEPORT listener: the
// kernel spreads the connections and each scheduler serves its own.
func ExampleServer_ServeGroup() {
	g := sched.NewGroup(2)
	ls, err := netio.ListenGroup(g, "tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	srv := &netio.Server{Handler: func(c *netio.Conn) {
		buf := make([]byte, 512)
		for {
			n, err := c.Read(buf)
			if err != nil {
				return
			}
			c.Write(buf[:n])
		}
	}}
	g.Go(func() { srv.ServeGroup(ls) })

	go func() {
		for i := range 3 {
			c, err := net.Dial("tcp", ls[0].Addr().String())
			if err != nil {
				panic(err)
			}
			fmt.Fprintf(c, "echo %d\n", i)
			reply, _ := bufio.NewReader(c).ReadString('\n')
			fmt.Print(reply)
			c.Close()
		}
		srv.Shutdown(context.Background())
	}()
	if err := g.Run(); err != nil {
		panic(err)
	}
	// Output:
	// echo 0
	// echo 1
	// echo 2
}

// A server behind a load balancer drains before it stops: its health
// check fails while it still serves, and a keep-alive session is told to
// close with its next reply.
func ExampleServer_Drain() {
	s := sched.New()
	l, err := netio.Listen(s, "tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	srv := &netio.Server{}
	srv.Handler = func(c *netio.Conn) {
		r := bufio.NewReader(c)
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			draining := srv.Draining() // once: the reply and the close agree
			switch {
			case line == "health\n" && draining:
				fmt.Fprintln(c, "503 draining")
			case line == "health\n":
				fmt.Fprintln(c, "200 ok")
			default:
				fmt.Fprint(c, strings.ToUpper(line))
			}
			if draining {
				return // the last reply of this session: the balancer reconnects elsewhere
			}
		}
	}
	s.Go(func() { srv.Serve(l) })

	drained, asked := make(chan error, 1), make(chan struct{})
	go func() {
		defer close(asked)
		ask := func(c net.Conn, r *bufio.Reader, msg string) {
			fmt.Fprintln(c, msg)
			reply, err := r.ReadString('\n')
			if err != nil {
				fmt.Println(err)
				return
			}
			fmt.Print(reply)
		}
		c, err := net.Dial("tcp", l.Addr().String())
		if err != nil {
			panic(err)
		}
		r := bufio.NewReader(c)
		ask(c, r, "health")
		go func() { drained <- srv.Drain(context.Background(), 100*time.Millisecond) }()
		for !srv.Draining() {
			time.Sleep(time.Millisecond)
		}
		ask(c, r, "health") // still served, but failing the check
		_, err = r.ReadString('\n')
		fmt.Println(err) // the session was closed after its last reply
		c.Close()
	}()
	if err := s.Run(); err != nil { // returns once the server is shut down
		panic(err)
	}
	<-asked
	fmt.Println("drained:", <-drained)
	// Output:
	// 200 ok
	// 503 draining
	// EOF
	// drained: <nil>
}

// Behind a load balancer that speaks the PROXY protocol (HAProxy's
// send-proxy-v2, nginx's proxy_protocol), the handler sees the client's
// address, not the balancer's.
func ExampleProxyProtocol() {
	s := sched.New()
	l, err := netio.Listen(s, "tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	srv := &netio.Server{
		Handler: func(c *netio.Conn) {
			fmt.Fprintf(c, "hello, %v\n", c.RemoteAddr())
		},
		ProxyProtocol: &netio.ProxyProtocol{
			Trusted: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}, // the balancers
		},
	}
	s.Go(func() { srv.Serve(l) })

	go func() {
		defer srv.Shutdown(context.Background())
		c, err := net.Dial("tcp", l.Addr().String())
		if err != nil {
			panic(err)
		}
		defer c.Close()
		// What the balancer sends first on the connection it opens.
		fmt.Fprint(c, "PROXY TCP4 203.0.113.7 198.51.100.1 4242 443\r\n")
		reply, _ := bufio.NewReader(c).ReadString('\n')
		fmt.Print(reply)
	}()
	if err := s.Run(); err != nil {
		panic(err)
	}
	// Output: hello, 203.0.113.7:4242
}
