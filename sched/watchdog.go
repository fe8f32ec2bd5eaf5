package sched

import (
	"bytes"
	"fmt"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// watchdogState lets a goroutine of its own see which task holds the
// scheduler thread and for how long.
type watchdogState struct {
	enabled bool
	seq     atomic.Uint64          // bumped at every switch
	cur     atomic.Pointer[Task]   // the task switched to; nil for the host
	curW    atomic.Pointer[worker] // its worker
	goids   sync.Map               // *worker -> goroutine id, for stacks
	stop    chan struct{}
	done    chan struct{}
}

// note records a switch to s.cur. It is one branch when the watchdog is
// off (inlined into every switch), and two atomic stores when it is on.
func (w *watchdogState) note(s *Scheduler) {
	if w.enabled {
		w.noteOn(s)
	}
}

// noteOn is note with the watchdog on, out of line.
func (w *watchdogState) noteOn(s *Scheduler) {
	w.seq.Add(1)
	w.cur.Store(s.cur)
	if s.cur != nil {
		w.curW.Store(s.cur.w)
	}
}

func (s *Scheduler) startWatchdog() {
	w := &s.wd
	w.enabled = true
	w.stop = make(chan struct{})
	w.done = make(chan struct{})
	out := s.opts.watchdogOut
	if out == nil {
		out = s.opts.logger.Writer()
	}
	threshold := s.opts.watchdog
	go func() {
		defer close(w.done)
		tick := time.NewTicker(threshold / 2)
		defer tick.Stop()
		var lastSeq uint64
		var since time.Time
		reported := false
		for {
			select {
			case <-w.stop:
				return
			case now := <-tick.C:
				seq := w.seq.Load()
				t := w.cur.Load()
				if seq != lastSeq || t == nil {
					lastSeq, since, reported = seq, now, false
					continue
				}
				if held := now.Sub(since); held >= threshold && !reported {
					reported = true
					fmt.Fprintf(out, "sched: watchdog: %s: %s [%s] has held the thread for %v without blocking or yielding\n%s\n",
						s.label, t, funcName(t.fn), held.Round(time.Millisecond), w.stackOf(w.curW.Load()))
				}
			}
		}
	}()
}

func (s *Scheduler) stopWatchdog() {
	if w := &s.wd; w.enabled {
		w.enabled = false
		close(w.stop)
		<-w.done
	}
}

// recordGoid remembers the goroutine id of the calling worker, so that the
// watchdog can find its stack in a dump of all goroutines.
func (w *watchdogState) recordGoid(wk *worker) {
	buf := make([]byte, 64)
	buf = buf[:runtime.Stack(buf, false)]
	// "goroutine 123 [running]:"
	if f := bytes.Fields(buf); len(f) > 1 {
		if id, err := strconv.ParseUint(string(f[1]), 10, 64); err == nil {
			w.goids.Store(wk, id)
		}
	}
}

// stackOf returns the stack of the goroutine of worker wk, from a dump of
// all goroutines, or a note saying why it cannot.
func (w *watchdogState) stackOf(wk *worker) []byte {
	v, ok := w.goids.Load(wk)
	if !ok {
		return []byte("\t(stack unavailable)")
	}
	id := v.(uint64)
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	prefix := []byte("goroutine " + strconv.FormatUint(id, 10) + " ")
	for _, blk := range bytes.Split(buf, []byte("\n\n")) {
		if bytes.HasPrefix(blk, prefix) {
			return blk
		}
	}
	return []byte("\t(stack unavailable)")
}
