//go:build linux

package harness

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"time"

	"github.com/coopgo/coop/bench/internal/loadgen"
)

// oddSizes are the write sizes of the odd-size check: around the request
// size, around the read size, and well past a socket buffer, so that short
// reads, short writes and back-pressure all happen.
var oddSizes = []int{1, 63, 64, 65, 1000, 16383, 16384, 16385, 100_000, 1 << 20}

// Verify checks that the server echoes byte-exact before anything is timed:
// conns connections of 64-byte requests and a streaming run (16 KiB
// writes), both through the load generator, then connections that write
// odd sizes from one byte to 1 MiB while reading the echo back.
func Verify(s *Server, conns int) error {
	// Generous stall limit: this checks bytes, not speed, and a pool of
	// 1,000 fresh processes on one CPU can be slow to answer at first.
	base := loadgen.Config{Addr: s.Addr, Conns: conns, Interval: 100 * time.Millisecond, Intervals: 1, ConnectTimeout: 30 * time.Second, StallTimeout: 30 * time.Second}
	closed := base
	closed.Mode = loadgen.Closed
	res, err := RunLoad(closed, nil)
	if err != nil {
		return fmt.Errorf("%s: check with %d connections: %w", s.Model.Name, conns, err)
	}
	if res.Checked == 0 {
		return fmt.Errorf("%s: check with %d connections: no reply checked", s.Model.Name, conns)
	}
	stream := base
	stream.Mode, stream.Conns = loadgen.Stream, min(conns, 10)
	if res, err = RunLoad(stream, nil); err != nil {
		return fmt.Errorf("%s: streaming check: %w", s.Model.Name, err)
	}
	if res.Checked == 0 {
		return fmt.Errorf("%s: streaming check: no bytes checked", s.Model.Name)
	}
	for i := range min(conns, 4) {
		if err := oddSizeCheck(s.Addr, uint64(i)); err != nil {
			return fmt.Errorf("%s: odd-size check: %w", s.Model.Name, err)
		}
	}
	return s.Alive()
}

func oddSizeCheck(addr string, seed uint64) error {
	c, err := net.DialTimeout("tcp4", addr, 10*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.SetDeadline(time.Now().Add(20 * time.Second)); err != nil {
		return err
	}
	r := rand.New(rand.NewPCG(seed, 99))
	total := 0
	for _, n := range oddSizes {
		total += n
	}
	sent := make([]byte, total)
	for i := range sent {
		sent[i] = byte(r.Uint32())
	}
	// Write concurrently with reading: an echo server stops reading when
	// its replies are not read, so writing 1 MiB first would deadlock.
	werr := make(chan error, 1)
	go func() {
		rest := sent
		for _, n := range oddSizes {
			if _, err := c.Write(rest[:n]); err != nil {
				werr <- err
				return
			}
			rest = rest[n:]
		}
		werr <- nil
	}()
	got := make([]byte, total)
	if _, err := io.ReadFull(c, got); err != nil {
		return fmt.Errorf("reading the echo of %d bytes: %w", total, err)
	}
	if err := <-werr; err != nil {
		return err
	}
	if !bytes.Equal(got, sent) {
		i := 0
		for got[i] == sent[i] {
			i++
		}
		return fmt.Errorf("byte %d of %d: got %#x, want %#x", i, total, got[i], sent[i])
	}
	return nil
}
