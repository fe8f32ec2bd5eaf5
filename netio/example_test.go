package netio_test

import (
	"fmt"
	"io"
	"net"
	"os"
	"strings"

	"github.com/coopgo/coop/netio"
	"github.com/coopgo/coop/sched"
)

// A UDP echo: the server and the client are tasks of one scheduler.
func ExampleListenPacket() {
	s := sched.New()
	srv, err := netio.ListenPacket(s, "udp", "127.0.0.1:0")
	if err != nil {
		fmt.Println(err)
		return
	}
	s.Go(func() {
		defer srv.Close()
		buf := make([]byte, 512)
		n, from, err := srv.ReadFrom(buf) // parks the task until a datagram comes
		if err != nil {
			fmt.Println(err)
			return
		}
		srv.WriteTo(append([]byte("echo: "), buf[:n]...), from)
	})
	s.Go(func() {
		c, err := netio.ListenPacket(s, "udp", "127.0.0.1:0")
		if err != nil {
			fmt.Println(err)
			return
		}
		defer c.Close()
		c.WriteTo([]byte("ping"), srv.LocalAddr())
		buf := make([]byte, 512)
		n, _, err := c.ReadFrom(buf)
		fmt.Println(string(buf[:n]), err)
	})
	s.Run()
	// Output: echo: ping <nil>
}

// Serving a file: io.Copy from an *os.File to a Conn is a sendfile on
// Linux, the copy loop elsewhere.
func ExampleConn_ReadFrom() {
	f, err := os.CreateTemp("", "coop-example")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.Remove(f.Name())
	defer f.Close()
	f.WriteString(strings.Repeat("coop ", 1000))
	f.Seek(0, io.SeekStart)

	s := sched.New()
	l, err := netio.Listen(s, "tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Println(err)
		return
	}
	s.Go(func() {
		defer l.Close()
		c, err := l.AcceptConn()
		if err != nil {
			fmt.Println(err)
			return
		}
		defer c.Close()
		n, err := io.Copy(c, f)
		fmt.Println("sent", n, err)
	})
	s.Go(func() {
		c, err := netio.Dial(s, "tcp", l.Addr().String())
		if err != nil {
			fmt.Println(err)
			return
		}
		defer c.Close()
		b, err := io.ReadAll(c)
		fmt.Println("received", len(b), err)
	})
	s.Run()
	// Output:
	// sent 5000 <nil>
	// received 5000 <nil>
}

// Writing a header and a body with one system call.
func ExampleConn_WriteBuffers() {
	s := sched.New()
	l, err := netio.Listen(s, "tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Println(err)
		return
	}
	s.Go(func() {
		defer l.Close()
		c, err := l.AcceptConn()
		if err != nil {
			fmt.Println(err)
			return
		}
		defer c.Close()
		body := "hello, world\n"
		v := net.Buffers{[]byte(fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n", len(body))), []byte(body)}
		c.WriteBuffers(&v) // consumes v
	})
	s.Go(func() {
		c, err := netio.Dial(s, "tcp", l.Addr().String())
		if err != nil {
			fmt.Println(err)
			return
		}
		defer c.Close()
		b, _ := io.ReadAll(c)
		fmt.Printf("%q\n", b)
	})
	s.Run()
	// Output: "HTTP/1.1 200 OK\r\nContent-Length: 13\r\n\r\nhello, world\n"
}
