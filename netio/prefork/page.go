package prefork

import (
	"sync/atomic"
	"unsafe"
)

// A page is the memory a worker shares with the master (a memfd both map):
// the worker's counters and its schedulers' heartbeats, written by the
// worker with single atomic stores and read by the master whenever it
// looks, with no system call and no message on either side.
//
// One field goes the other way: stopping, which the master sets when the
// pool stops, before it sends any worker its order (see Worker.Draining).
// It comes last, so that the other fields keep their places.
type page struct {
	accepted atomic.Uint64 // connections accepted since the worker started
	active   atomic.Int64  // connections being served now
	beats    [maxCores]beat
	stopping atomic.Uint32 // written by the master: the pool stops, Draining reports true
}

// A beat is one scheduler's heartbeat: a count its heartbeat task bumps
// every interval (it stops when the scheduler's loop stops), and the CPU
// time its thread has used, for the adaptive pool's busy measure.
type beat struct {
	n     atomic.Uint64
	cpuNs atomic.Uint64
}

const pageSize = int(unsafe.Sizeof(page{}))
