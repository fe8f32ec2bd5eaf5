//go:build linux

package loadgen_test

import (
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/coopgo/coop/bench/internal/loadgen"
)

// serve runs a loopback server whose sessions run handle, until the test
// ends (see Serve).
var serve = loadgen.Serve

func echo(c net.Conn) { io.Copy(c, c) }

func run(t *testing.T, cfg loadgen.Config) (loadgen.Result, error) {
	t.Helper()
	if cfg.Interval == 0 {
		cfg.Interval, cfg.Intervals = 100*time.Millisecond, 1
	}
	// The stall timeout is the study's (5 s) unless the test sets one: an
	// in-process echo server on a busy machine went 500 ms without a reply
	// (TestIntervalsNeverShort, TestModesAgainstEcho), which is no stall.
	cfg.ConnectTimeout = 5 * time.Second
	return loadgen.Run(cfg, nil)
}

func TestModesAgainstEcho(t *testing.T) {
	addr := serve(t, echo)
	for _, mode := range []loadgen.Mode{loadgen.Closed, loadgen.Open, loadgen.Stream} {
		t.Run(string(mode), func(t *testing.T) {
			res, err := run(t, loadgen.Config{Mode: mode, Addr: addr, Conns: 20, Rate: 2000, Warmup: 20 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			iv := res.Intervals[0]
			if mode == loadgen.Stream && iv.Bytes == 0 || mode != loadgen.Stream && iv.Requests == 0 {
				t.Errorf("nothing counted: %+v", iv)
			}
			if iv.ClientCPU <= 0 {
				t.Errorf("client CPU not recorded: %+v", iv)
			}
		})
	}
}

// TestDetectsCorruption: a server that changes one byte must fail the run,
// in request/response and in streaming mode.
func TestDetectsCorruption(t *testing.T) {
	addr := serve(t, func(c net.Conn) {
		buf := make([]byte, 4096)
		total := 0
		for {
			n, err := c.Read(buf)
			if err != nil {
				return
			}
			for i := range n {
				if total+i == 5000 {
					buf[i] ^= 0x40
				}
			}
			total += n
			if _, err := c.Write(buf[:n]); err != nil {
				return
			}
		}
	})
	for _, mode := range []loadgen.Mode{loadgen.Closed, loadgen.Stream} {
		_, err := run(t, loadgen.Config{Mode: mode, Addr: addr, Conns: 1, Interval: time.Second, Intervals: 1})
		if err == nil || !(strings.Contains(err.Error(), "got") && strings.Contains(err.Error(), "want")) {
			t.Errorf("%s: err = %v, want a byte mismatch", mode, err)
		}
	}
}

// TestIntervalsNeverShort: an interval runs from one snapshot to the next,
// and the next is due a full Interval after the last was taken, so a late
// snapshot (the client descheduled on a busy machine) lengthens its own
// interval and never shortens the next one.
func TestIntervalsNeverShort(t *testing.T) {
	addr := serve(t, echo)
	const every = 20 * time.Millisecond
	for _, mode := range []loadgen.Mode{loadgen.Closed, loadgen.Open, loadgen.Stream} {
		res, err := run(t, loadgen.Config{Mode: mode, Addr: addr, Conns: 10, Rate: 2000, Interval: every, Intervals: 10})
		if err != nil {
			t.Fatalf("%s: %v", mode, err)
		}
		if len(res.Intervals) != 10 {
			t.Fatalf("%s: %d intervals, want 10", mode, len(res.Intervals))
		}
		for i, iv := range res.Intervals {
			if iv.Wall < every {
				t.Errorf("%s: interval %d lasted %v, want at least %v", mode, i, iv.Wall, every)
			}
		}
	}
}

// TestDetectsStall: a server that stops answering must fail the run within
// the stall timeout, not hang it.
func TestDetectsStall(t *testing.T) {
	addr := serve(t, func(c net.Conn) {
		buf := make([]byte, 64*10)
		if _, err := io.ReadFull(c, buf[:64]); err != nil {
			return
		}
		c.Write(buf[:64])      // the check passes...
		io.Copy(io.Discard, c) // ...then nothing comes back
	})
	start := time.Now()
	_, err := run(t, loadgen.Config{Mode: loadgen.Closed, Addr: addr, Conns: 3, Interval: 5 * time.Second, Intervals: 2, StallTimeout: 500 * time.Millisecond})
	if err == nil || !strings.Contains(err.Error(), "stalled") {
		t.Errorf("err = %v, want a stall", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("took %v to notice a stall with a 500ms stall timeout", d)
	}
}

// TestDetectsClose: a server that closes a connection mid-run fails it.
func TestDetectsClose(t *testing.T) {
	addr := serve(t, func(c net.Conn) {
		buf := make([]byte, 64)
		for range 10 {
			if _, err := io.ReadFull(c, buf); err != nil {
				return
			}
			c.Write(buf)
		}
		// An orderly close: shut down the write side, then read what the
		// client already sent. Closing with its next request unread would
		// make the kernel reset the connection instead, and the client
		// would see a reset, not the close this test is about.
		c.(*net.TCPConn).CloseWrite()
		io.Copy(io.Discard, c)
	})
	_, err := run(t, loadgen.Config{Mode: loadgen.Closed, Addr: addr, Conns: 2})
	if err == nil || !strings.Contains(err.Error(), "closed") {
		t.Errorf("err = %v, want the server's close reported", err)
	}
}

func TestRefusesNonLoopback(t *testing.T) {
	_, err := loadgen.Run(loadgen.Config{Mode: loadgen.Closed, Addr: "192.0.2.1:80", Conns: 1, Interval: time.Millisecond, Intervals: 1}, nil)
	if err == nil || !strings.Contains(err.Error(), "loopback") {
		t.Errorf("err = %v, want a refusal", err)
	}
}

func TestIdleHold(t *testing.T) {
	addr := serve(t, echo)
	held := false
	_, err := loadgen.Run(loadgen.Config{Mode: loadgen.Idle, Addr: addr, Conns: 30}, func() error {
		held = true
		return nil
	})
	if err != nil || !held {
		t.Fatalf("err = %v, held = %v", err, held)
	}
	want := errors.New("measurement failed")
	if _, err := loadgen.Run(loadgen.Config{Mode: loadgen.Idle, Addr: addr, Conns: 3}, func() error { return want }); !errors.Is(err, want) {
		t.Errorf("err = %v, want the hold's error", err)
	}
}
