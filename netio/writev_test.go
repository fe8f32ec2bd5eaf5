package netio_test

import (
	"bytes"
	"io"
	"net"
	"testing"

	"github.com/coopgo/coop/netio"
	"github.com/coopgo/coop/sched"
)

// manyBuffers returns n buffers of 0 to 999 bytes, and their concatenation.
func manyBuffers(n int) (net.Buffers, []byte) {
	data := randomBytes(n * 500)
	var v net.Buffers
	off := 0
	for i := range n {
		size := (i * 7919) % 1000
		if i%97 == 0 {
			size = 0 // empty buffers are skipped, not sent as nothing
		}
		size = min(size, len(data)-off)
		v = append(v, data[off:off+size])
		off += size
	}
	return v, data[:off]
}

func TestWriteBuffers(t *testing.T) {
	const n = 3000 // three batches of IOV_MAX and some
	// check writes with a, reading b in a concurrent task or goroutine
	// that spawn starts, and returns a wait for.
	check := func(t *testing.T, a, b *netio.Conn, spawn func(func()) (wait func())) {
		v, want := manyBuffers(n)
		orig := v
		// A small send buffer makes writes short, in the middle of
		// buffers: the rest must follow exactly.
		a.SetWriteBuffer(4096)
		var got []byte
		wait := spawn(func() { got, _ = io.ReadAll(readerOnly{b}) })
		nw, err := a.WriteBuffers(&v)
		if err != nil || nw != int64(len(want)) {
			t.Fatalf("WriteBuffers: %d, %v; want %d bytes", nw, err, len(want))
		}
		if len(v) != 0 {
			t.Errorf("%d buffers left in v, want all consumed", len(v))
		}
		for i, b := range orig {
			if b != nil {
				t.Errorf("consumed buffer %d of %d still referenced (%d bytes)", i, len(orig), len(b))
				break
			}
		}
		a.CloseWrite()
		wait()
		if !bytes.Equal(got, want) {
			t.Fatalf("received %d bytes, want %d, byte-exact", len(got), len(want))
		}
	}
	t.Run("Task", func(t *testing.T) {
		runTasks(t, func(s *sched.Scheduler) {
			a, b := tcpPairOn(t, s)
			defer a.Close()
			defer b.Close()
			check(t, a, b, func(fn func()) func() {
				task := s.Go(fn)
				return func() { task.Wait() }
			})
		})
	})
	t.Run("Goroutine", func(t *testing.T) {
		s := runScheduler(t)
		var a, b *netio.Conn
		s.Go(func() { a, b = tcpPairOn(t, s) }).Wait()
		defer a.Close()
		defer b.Close()
		check(t, a, b, func(fn func()) func() {
			done := make(chan struct{})
			go func() { fn(); close(done) }()
			return func() { <-done }
		})
	})
	t.Run("Empty", func(t *testing.T) {
		runTasks(t, func(s *sched.Scheduler) {
			a, b := tcpPairOn(t, s)
			defer a.Close()
			defer b.Close()
			v := net.Buffers{nil, {}, nil}
			if n, err := a.WriteBuffers(&v); n != 0 || err != nil || len(v) != 0 {
				t.Fatalf("WriteBuffers of empty buffers: %d, %v, %d left", n, err, len(v))
			}
		})
	})
}
