package netio_test

import (
	"bytes"
	"io"
	"net"
	"testing"

	"github.com/coopgo/coop/netio"
	"github.com/coopgo/coop/sched"
)

func TestEchoSmoke(t *testing.T) {
	s := sched.New()
	l, err := netio.Listen(s, "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.Go(func() {
		for i := 0; i < 3; i++ {
			c, err := l.AcceptConn()
			if err != nil {
				t.Error(err)
				return
			}
			s.Go(func() {
				defer c.Close()
				io.Copy(c, c)
			})
		}
		l.Close()
	})
	done := make(chan bool)
	go func() {
		defer close(done)
		for i := 0; i < 3; i++ {
			c, err := net.Dial("tcp", l.Addr().String())
			if err != nil {
				t.Error(err)
				return
			}
			msg := bytes.Repeat([]byte("x"), 100000)
			go func() { c.Write(msg); c.(*net.TCPConn).CloseWrite() }()
			got, err := io.ReadAll(c)
			if err != nil || !bytes.Equal(got, msg) {
				t.Errorf("echo: %d bytes, %v", len(got), err)
			}
			c.Close()
		}
	}()
	if err := s.Run(); err != nil {
		t.Fatal(err)
	}
	<-done
	// coop client and server
	s = sched.New()
	l, _ = netio.Listen(s, "tcp", "127.0.0.1:0")
	s.Go(func() {
		c, _ := l.AcceptConn()
		defer c.Close()
		io.Copy(c, c)
		l.Close()
	})
	s.Go(func() {
		c, err := netio.Dial(s, "tcp", l.Addr().String())
		if err != nil {
			t.Error(err)
			return
		}
		defer c.Close()
		c.Write([]byte("hello"))
		c.CloseWrite()
		b, err := io.ReadAll(c)
		if string(b) != "hello" {
			t.Errorf("%q %v", b, err)
		}
	})
	if err := s.Run(); err != nil {
		t.Fatal(err)
	}
}
