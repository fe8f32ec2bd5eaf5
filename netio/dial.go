//go:build linux || darwin || dragonfly || freebsd || netbsd || openbsd

package netio

import (
	"context"
	"errors"
	"net"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/coopgo/coop/sched"
)

// A Dialer holds options for connecting, as net.Dialer does.
type Dialer struct {
	// Timeout bounds the whole dial, name resolution included. Zero means
	// no timeout (the kernel's own connect timeout still applies).
	Timeout time.Duration
	// Deadline is an absolute time after which the dial fails. If both
	// are set, the earlier wins.
	Deadline time.Time
	// LocalAddr is the local address to bind to, if not nil: a
	// *net.TCPAddr for TCP, a *net.UnixAddr for Unix sockets.
	LocalAddr net.Addr
	// Control, if not nil, is called after the socket is created and
	// before it connects, as with net.Dialer.Control.
	Control func(network, address string, c syscall.RawConn) error
}

// Dial connects to address on network ("tcp", "tcp4", "tcp6", "unix") and
// returns a connection served by scheduler s. From a task of s the
// connect parks the task; from any other goroutine it blocks the caller.
func Dial(s *sched.Scheduler, network, address string) (*Conn, error) {
	mustScheduler(s, "Dial")
	var d Dialer
	return d.Dial(s, network, address)
}

// Dial is like the package-level Dial with d's options.
func (d *Dialer) Dial(s *sched.Scheduler, network, address string) (*Conn, error) {
	mustScheduler(s, "Dialer.Dial")
	return d.DialContext(context.Background(), s, network, address)
}

// DialContext is like Dial under ctx, as net.Dialer's DialContext: the
// earlier of ctx's deadline and d's bounds the dial; if ctx ends first,
// the connect in progress is abandoned and its socket closed, and the
// error is a *net.OpError whose Err is net's: "operation was canceled",
// matching context.Canceled, or "i/o timeout", matching
// context.DeadlineExceeded (and os.ErrDeadlineExceeded). Name resolution
// runs under ctx too.
func (d *Dialer) DialContext(ctx context.Context, s *sched.Scheduler, network, address string) (*Conn, error) {
	mustScheduler(s, "Dialer.DialContext")
	switch network {
	case "tcp", "tcp4", "tcp6", "unix":
	default:
		return nil, &net.OpError{Op: "dial", Net: network, Err: net.UnknownNetworkError(network)}
	}
	deadline := d.Deadline
	if d.Timeout > 0 {
		if t := time.Now().Add(d.Timeout); deadline.IsZero() || t.Before(deadline) {
			deadline = t
		}
	}
	if t, ok := ctx.Deadline(); ok && (deadline.IsZero() || t.Before(deadline)) {
		deadline = t
	}
	var c *Conn
	var err error
	dial := func() {
		if ctx.Done() != nil {
			release := sched.BindContext(ctx)
			defer release()
		}
		c, err = d.dial(ctx, s, network, address, deadline)
	}
	if t := sched.Current(); t != nil && t.Scheduler() == s {
		dial()
	} else if derr := s.Do(dial); derr != nil {
		err = derr
	}
	if err != nil {
		if cerr := ctx.Err(); cerr != nil {
			// Whatever the dial saw last (the interrupt, a deadline, a
			// close), it failed because ctx ended: net says so.
			err = mapContextErr(cerr)
		} else if errors.Is(err, os.ErrDeadlineExceeded) {
			// The earliest deadline, d's or ctx's (whose timer may not
			// have run yet): net's timeout, which also matches
			// context.DeadlineExceeded.
			err = errTimeout
		} else {
			var oe *net.OpError
			if errors.As(err, &oe) {
				return nil, err
			}
		}
		return nil, &net.OpError{Op: "dial", Net: network, Source: d.LocalAddr, Addr: addrFor(network, address), Err: mapErr(err)}
	}
	return c, nil
}

// DialContext is the package-level Dial under ctx (see Dialer.DialContext).
func DialContext(ctx context.Context, s *sched.Scheduler, network, address string) (*Conn, error) {
	mustScheduler(s, "DialContext")
	var d Dialer
	return d.DialContext(ctx, s, network, address)
}

// dial runs on s's thread.
func (d *Dialer) dial(ctx context.Context, s *sched.Scheduler, network, address string, deadline time.Time) (*Conn, error) {
	if network == "unix" {
		return d.connect(s, network, address, unix.AF_UNIX, &unix.SockaddrUnix{Name: address}, deadline)
	}
	addrs, zone, err := resolveIP(ctx, network, address)
	if err != nil {
		return nil, err
	}
	if !deadline.IsZero() && !time.Now().Before(deadline) {
		return nil, os.ErrDeadlineExceeded
	}
	var first error
	for _, ap := range addrs {
		ip := net.IP(ap.Addr().AsSlice())
		if !ap.Addr().IsValid() {
			ip = net.IPv4(127, 0, 0, 1) // "host-less" dials reach the local system, as in net
		}
		fam, _ := family(network, ip)
		sa, err := ipSockaddr(fam, ip, int(ap.Port()), zone)
		if err != nil {
			if first == nil {
				first = err
			}
			continue
		}
		c, err := d.connect(s, network, address, fam, sa, deadline)
		if err == nil {
			return c, nil
		}
		if first == nil {
			first = err
		}
		if errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, sched.ErrInterrupted) {
			break
		}
	}
	return nil, first
}

// connect makes a socket and connects it to sa, parking until the
// connection is established, refused or timed out.
func (d *Dialer) connect(s *sched.Scheduler, network, address string, fam int, sa unix.Sockaddr, deadline time.Time) (*Conn, error) {
	sysfd, err := socket(fam, unix.SOCK_STREAM, 0)
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*Conn, error) {
		unix.Close(sysfd)
		return nil, err
	}
	if d.LocalAddr != nil {
		lsa, err := localSockaddr(fam, d.LocalAddr)
		if err != nil {
			return fail(err)
		}
		if err := unix.Bind(sysfd, lsa); err != nil {
			return fail(wrapSyscall("bind", err))
		}
	}
	if d.Control != nil {
		if err := d.Control(network, address, rawFD(sysfd)); err != nil {
			return fail(err)
		}
	}
	err = unix.Connect(sysfd, sa)
	switch err {
	case nil, unix.EINPROGRESS, unix.EALREADY, unix.EINTR:
	default:
		return fail(wrapSyscall("connect", err))
	}
	fd, rerr := s.Register(sysfd)
	if rerr != nil {
		return fail(rerr)
	}
	if err != nil { // in progress
		if !deadline.IsZero() {
			fd.SetWriteDeadline(deadline)
		}
		if werr := waitConnected(fd, sysfd); werr != nil {
			fd.Close()
			return nil, werr
		}
		if !deadline.IsZero() {
			fd.SetWriteDeadline(time.Time{})
		}
	}
	if fam != unix.AF_UNIX {
		unix.SetsockoptInt(sysfd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
	}
	var laddr, raddr net.Addr
	if lsa, err := unix.Getsockname(sysfd); err == nil {
		laddr = sockaddrToAddr(network, lsa)
	}
	if rsa, err := unix.Getpeername(sysfd); err == nil {
		raddr = sockaddrToAddr(network, rsa)
	} else {
		raddr = sockaddrToAddr(network, sa)
	}
	return connFrom(s, fd, sysfd, network, laddr, raddr), nil
}

// waitConnected waits for a non-blocking connect to finish: writability
// says the handshake is over, one way or the other; SO_ERROR says which.
func waitConnected(fd *sched.FD, sysfd int) error {
	for {
		if err := fd.WaitWrite(); err != nil {
			return err
		}
		soerr, err := unix.GetsockoptInt(sysfd, unix.SOL_SOCKET, unix.SO_ERROR)
		if err != nil {
			return wrapSyscall("getsockopt", err)
		}
		switch e := syscall.Errno(soerr); e {
		case 0:
			return nil
		case syscall.EINPROGRESS, syscall.EALREADY, syscall.EINTR:
			fd.ClearWritable()
		default:
			return wrapSyscall("connect", e)
		}
	}
}

// localSockaddr converts a Dialer's LocalAddr for family fam.
func localSockaddr(fam int, a net.Addr) (unix.Sockaddr, error) {
	switch a := a.(type) {
	case *net.TCPAddr:
		return ipSockaddr(fam, a.IP, a.Port, a.Zone)
	case *net.UnixAddr:
		return &unix.SockaddrUnix{Name: a.Name}, nil
	}
	return nil, &net.AddrError{Err: "unexpected local address type", Addr: a.String()}
}
