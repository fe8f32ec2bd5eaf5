package main

import (
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/coopgo/coop/examples/internal/exampletest"
	"github.com/coopgo/coop/internal/proctest"
)

// TestAcceptAfterEMFILE runs each server out of descriptors: accept fails
// with EMFILE, and the connection it could not take waits in the
// listener's queue. Once a descriptor is free, the server must take that
// connection after its back-off, with no new connection to bring an edge:
// the state machine logged "retrying in 100ms", then waited for the next
// edge instead, and the waiting client was never served.
func TestAcceptAfterEMFILE(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("skipped: the test reads /proc and runs prlimit(1)")
	}
	exampletest.Need(t, "prlimit")
	forEachImpl(t, func(t *testing.T, srv *exampletest.Server) {
		pid := strconv.Itoa(srv.Pid())
		open, err := proctest.OpenFDs(srv.Pid())
		if err != nil {
			t.Fatal(err)
		}
		// A limit that leaves two descriptor numbers free below it: the
		// kernel gives out the lowest free numbers.
		limit := 0
		for free := 0; free < 2; limit++ {
			if !open[limit] {
				free++
			}
		}
		exampletest.Run(t, 10*time.Second, "prlimit", "--pid", pid, "--nofile="+strconv.Itoa(limit))
		var held []*lineConn
		var queued *lineConn
		for range 20 {
			lc := dialLines(t, srv.Addr)
			lc.send("PING\n")
			if got, _ := lc.line(time.Second); got != "PONG\n" {
				queued = lc // not accepted: out of descriptors
				break
			}
			held = append(held, lc)
		}
		if queued == nil || len(held) == 0 {
			t.Fatalf("%d clients served, then %v: want some served, then one left waiting (EMFILE)", len(held), queued != nil)
		}
		held[0].c.Close() // the server reads the end and frees a descriptor
		queued.expect("PONG\n")
	})
}
