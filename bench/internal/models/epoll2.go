//go:build linux

package models

import (
	"runtime"

	"github.com/coopgo/coop/bench/internal/rawsys"
)

func init() {
	Register(Model{
		Name:       "epoll-2",
		What:       "the epoll state machine twice: 2 event loops (one per CPU), each on a thread of its own with a SO_REUSEPORT listener of its own",
		GOMAXPROCS: epoll2Loops,
		MultiCore:  true,
		FullOnly:   true,
		Serve:      func(opt Options) error { return serveEpoll2(opt, false) },
	})
	Register(Model{
		Name:       "epoll-2-pinned",
		What:       "epoll-2 with loop i's thread pinned to CPU i, as coop-group-pinned: one loop on the server CPU, one on the client's",
		GOMAXPROCS: epoll2Loops,
		MultiCore:  true,
		FullOnly:   true,
		Serve:      func(opt Options) error { return serveEpoll2(opt, true) },
	})
}

// epoll2Loops is the number of event loops of the epoll-2 model: one per
// CPU of the study's machines.
const epoll2Loops = 2

// The epoll-2 model is the reference for the multi-core rows that run one
// event loop per CPU (coop-group): the same loop as the epoll row (epLoop),
// run epoll2Loops times, each on a locked thread with a listener of its
// own bound to the same address with SO_REUSEPORT, so that the kernel
// spreads the connections over the loops and no loop ever hands work to
// another. Nothing is shared between the loops but the process. What it
// costs per request beyond the epoll row is what several event loops per
// machine cost by themselves: each loop is half as busy, so it sleeps and
// is woken more often per request, and the kernel decides which CPU each
// thread runs on (with the load generator busy on the other CPU, often
// both on the same one). With pin, loop i's thread runs on CPU i only
// (epoll-2-pinned), as sched.WithCPUPerScheduler places coop-group-pinned's
// schedulers.
func serveEpoll2(opt Options, pin bool) error {
	addr := opt.Addr
	loops := make([]*epLoop, epoll2Loops)
	for i := range loops {
		// The first listener binds opt.Addr (its port may be 0); the
		// others bind the address it got.
		lfd, a, err := listenFD(addr, true, true)
		if err != nil {
			return err
		}
		addr = a
		if loops[i], err = newEpLoop("epoll-2", lfd, opt.BufSize, false); err != nil {
			return err
		}
	}
	errc := make(chan error, len(loops))
	for i, l := range loops {
		go func() {
			// As in serveEpoll: the loop owns its thread.
			runtime.LockOSThread()
			if pin {
				if err := rawsys.PinThread(i); err != nil {
					errc <- err
					return
				}
			}
			errc <- l.run()
		}()
	}
	// Every listener is registered already: connections that arrive
	// before a loop runs wait in its backlog, and its epoll set reports
	// them at the loop's first poll.
	opt.Ready(addr)
	return <-errc
}
