package main

import (
	"log"
	"runtime"
	"testing"
	"time"

	"github.com/coopgo/coop/netio"
	"github.com/coopgo/coop/sched"
)

// TestHotPathAllocs serves keep-alive requests in process, in both modes,
// and counts the allocations of the whole process per request: the
// server's hot path must make none.
func TestHotPathAllocs(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped in -short mode")
	}
	forModes(t, func(t *testing.T, mode string) {
		cfg := &config{maxHeader: 8 << 10, maxBody: 1 << 20, headerTimeout: 10 * time.Second,
			writeTimeout: 10 * time.Second, logger: log.Default()}
		loc := &local{cfg: cfg, sessions: make(map[*session]struct{})}
		s := sched.New()
		l, err := netio.Listen(s, "tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		srv := &netio.Server{}
		if mode == "task" {
			srv.Handler = loc.serveTask
		} else {
			srv.Ready = loc.serveReady
			srv.IdleTimeout = cfg.headerTimeout
		}
		s.Go(func() { srv.Serve(l) })
		const rounds = 2000
		var allocs uint64
		s.Go(func() {
			defer srv.Close()
			c, err := netio.Dial(s, "tcp", l.Addr().String())
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Close()
			req := []byte("GET / HTTP/1.1\r\nHost: x\r\nUser-Agent: test\r\n\r\n")
			respLen := len(helloResponse.appendTo(nil, make([]byte, len(httpTime)), connPersist, false))
			buf := make([]byte, 4096)
			round := func() bool {
				if _, err := c.Write(req); err != nil {
					t.Error(err)
					return false
				}
				for got := 0; got < respLen; {
					n, err := c.Read(buf)
					if err != nil {
						t.Error(err)
						return false
					}
					got += n
				}
				return true
			}
			for range 100 {
				if !round() {
					return
				}
			}
			var m0, m1 runtime.MemStats
			runtime.ReadMemStats(&m0)
			for range rounds {
				if !round() {
					return
				}
			}
			runtime.ReadMemStats(&m1)
			allocs = m1.Mallocs - m0.Mallocs
		})
		if err := s.Run(); err != nil {
			t.Fatal(err)
		}
		// A few are allowed for the runtime's own business (a timer, the
		// Date once a second). In ready mode the server starts a task for
		// each wake-up, and sched.Scheduler.Go allocates its *Task: one
		// allocation per request that is the library's, not this
		// example's.
		limit := 0.01
		if mode == "ready" {
			limit += 1
		}
		if per := float64(allocs) / rounds; per > limit {
			t.Errorf("%d allocations in %d requests (%.3f per request), want none", allocs, rounds, per)
		}
	})
}
