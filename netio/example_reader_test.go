package netio_test

import (
	"bytes"
	"fmt"
	"io"
	"strconv"

	"github.com/coopgo/coop/netio"
	"github.com/coopgo/coop/sched"
)

// A line protocol read with a Reader: between lines the session parks
// holding no buffer, and every session borrows the same one in turn.
func ExampleReader() {
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
		r := netio.NewReader(c)
		for {
			line, err := r.ReadSlice('\n') // parks the task, without a buffer, until a line comes
			if err != nil {
				return // io.EOF: the client is done
			}
			c.Write(bytes.ToUpper(line))
		}
	})
	s.Go(func() {
		c, err := netio.Dial(s, "tcp", l.Addr().String())
		if err != nil {
			fmt.Println(err)
			return
		}
		defer c.Close()
		r := netio.NewReader(c)
		for _, msg := range []string{"hello\n", "coop\n"} {
			c.Write([]byte(msg))
			line, _ := r.ReadSlice('\n')
			fmt.Printf("%q\n", line)
		}
	})
	s.Run()
	// Output:
	// "HELLO\n"
	// "COOP\n"
}

// A protocol that announces its sizes: parse what is buffered, Fill when
// a request is incomplete, Grow for a large one, Discard what was used.
// Each request here is a decimal length, a newline, then that many bytes.
func ExampleReader_Fill() {
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
		r := netio.NewReaderSize(c, 1024)
		var b []byte
		for {
			i := bytes.IndexByte(b, '\n')
			n := 0
			if i >= 0 {
				n, _ = strconv.Atoi(string(b[:i]))
			}
			if i < 0 || len(b) < i+1+n {
				if i >= 0 {
					r.Grow(i + 1 + n - len(b)) // room for the whole request
				}
				if b, err = r.Fill(); err != nil {
					return
				}
				continue
			}
			body := b[i+1 : i+1+n]
			fmt.Printf("request of %d bytes: %.5s\n", n, body)
			r.Discard(i + 1 + n)
			b = b[i+1+n:]
		}
	})
	s.Go(func() {
		c, err := netio.Dial(s, "tcp", l.Addr().String())
		if err != nil {
			fmt.Println(err)
			return
		}
		defer c.Close()
		io.WriteString(c, "5\nhello3\nabc")
		io.WriteString(c, "5000\n"+string(bytes.Repeat([]byte("x"), 5000)))
	})
	s.Run()
	// Output:
	// request of 5 bytes: hello
	// request of 3 bytes: abc
	// request of 5000 bytes: xxxxx
}
