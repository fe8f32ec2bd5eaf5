//go:build linux || darwin || dragonfly || freebsd || netbsd || openbsd

package netio

import (
	"errors"
	"net"

	"github.com/coopgo/coop/sched"
)

// ListenGroup listens on address with one SO_REUSEPORT listener per
// scheduler of g, the i-th listener on g.Scheduler(i), for network "tcp",
// "tcp4" or "tcp6". The kernel spreads incoming connections among them,
// so that each scheduler accepts and serves its own with no traffic
// between threads (see Server.ServeGroup). With port 0 the first listener
// picks the port and the others share it.
func ListenGroup(g *sched.Group, network, address string) ([]*Listener, error) {
	mustGroup(g, "ListenGroup")
	var lc ListenConfig
	return lc.ListenGroup(g, network, address)
}

// ListenGroup is like the package-level ListenGroup with lc's options;
// ReusePort is implied.
func (lc *ListenConfig) ListenGroup(g *sched.Group, network, address string) ([]*Listener, error) {
	mustGroup(g, "ListenConfig.ListenGroup")
	switch network {
	case "tcp", "tcp4", "tcp6":
	default:
		return nil, &net.OpError{Op: "listen", Net: network, Err: errors.New("ListenGroup needs a TCP network for SO_REUSEPORT")}
	}
	cfg := *lc
	cfg.ReusePort = true
	ls := make([]*Listener, 0, g.Len())
	for i := range g.Len() {
		l, err := cfg.Listen(g.Scheduler(i), network, address)
		if err != nil {
			for _, l := range ls {
				l.Close()
			}
			return nil, err
		}
		if i == 0 {
			address = l.Addr().String() // port 0: the others join the port it got
		}
		ls = append(ls, l)
	}
	return ls, nil
}

// ServeGroup serves the listeners, each on its own scheduler (typically
// those ListenGroup made for a sched.Group), and returns when all accept
// loops have ended: ErrServerClosed after Shutdown or Close, else the
// errors of the loops that failed, joined. Each scheduler accepts and
// serves its own connections; MaxConns applies to each.
//
// ServeGroup may be called from any goroutine or task. Before the group
// runs, start it in a task so that the group has work when Run begins:
//
//	g.Go(func() { srv.ServeGroup(ls) })
//	g.Run()
func (srv *Server) ServeGroup(ls []*Listener) error {
	if len(ls) == 0 {
		return errors.New("netio: ServeGroup with no listeners")
	}
	if err := srv.validate(); err != nil {
		for _, l := range ls {
			l.Close()
		}
		return err
	}
	errs := make([]error, len(ls))
	tasks := make([]*sched.Task, len(ls))
	for i, l := range ls {
		tasks[i] = l.Scheduler().Go(func() { errs[i] = srv.serve(l) })
	}
	closed := true
	var failed []error
	for i, t := range tasks {
		if err := t.Wait(); err != nil {
			if errors.Is(err, sched.ErrInterrupted) {
				return err // the calling task was interrupted: its scheduler is stopping
			}
			ls[i].Close() // its scheduler had finished: the loop never ran
			errs[i] = err
		}
		if errs[i] != ErrServerClosed {
			closed = false
			failed = append(failed, errs[i])
		}
	}
	if closed {
		return ErrServerClosed
	}
	return errors.Join(failed...)
}
