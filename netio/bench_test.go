//go:build linux

// Linux only: the baseline is the raw system calls Conn makes there (on
// darwin and OpenBSD system calls go through libc).

package netio_test

import (
	"io"
	"os"
	"syscall"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/coopgo/coop/netio"
	"github.com/coopgo/coop/sched"
)

// Read/Write on a ready socket against the bare system calls: one task
// writes 64 bytes on one end of a connected pair and reads them from the
// other, b.N times. The socket never has to be waited for, so this is the
// cost Conn adds to the two calls (the task check, the deadline and close
// checks, the readiness flags, the write lock); the target is 1.1x.
//
//	go test -run '^$' -bench 'ReadWrite' -count 5 ./netio
//
// BenchmarkRawSyscallReadWrite makes the same system calls Conn makes
// (sendto with MSG_NOSIGNAL, read) as raw syscalls, on a fresh pair of the
// same kind that no poller watches; BenchmarkUnixSyscallReadWrite makes
// them through x/sys (unix.Write, unix.Read), which adds the runtime's
// syscall bookkeeping.
//
// Besides ns/op, each reports cpu-ns/op, the scheduler thread's own CPU
// time per round (CLOCK_THREAD_CPUTIME_ID): on a machine shared with
// other load, wall time includes waiting for a CPU and varies far more.

func BenchmarkConnReadWrite(b *testing.B) {
	b.Run("unix", func(b *testing.B) { benchmarkConnReadWrite(b, connSocketpair) })
	b.Run("tcp", func(b *testing.B) { benchmarkConnReadWrite(b, tcpPairOn) })
}

func BenchmarkRawSyscallReadWrite(b *testing.B) {
	b.Run("unix", func(b *testing.B) { benchmarkSyscallReadWrite(b, rawSocketpair, rawWriteRead, false) })
	b.Run("tcp", func(b *testing.B) { benchmarkSyscallReadWrite(b, rawTCPPair, rawWriteRead, false) })
	// The same, on sockets registered with the scheduler's poller as a
	// Conn's are: each write then also runs the kernel's epoll callbacks,
	// so the difference to Conn is netio's own work alone.
	b.Run("unix-polled", func(b *testing.B) { benchmarkSyscallReadWrite(b, rawSocketpair, rawWriteRead, true) })
	b.Run("tcp-polled", func(b *testing.B) { benchmarkSyscallReadWrite(b, rawTCPPair, rawWriteRead, true) })
}

func BenchmarkUnixSyscallReadWrite(b *testing.B) {
	b.Run("unix", func(b *testing.B) { benchmarkSyscallReadWrite(b, rawSocketpair, unixWriteRead, false) })
	b.Run("tcp", func(b *testing.B) { benchmarkSyscallReadWrite(b, rawTCPPair, unixWriteRead, false) })
}

const benchMsg = 64

func benchmarkConnReadWrite(b *testing.B, pair func(testing.TB, *sched.Scheduler) (*netio.Conn, *netio.Conn)) {
	s := sched.New()
	s.Go(func() {
		w, r := pair(b, s)
		defer w.Close()
		defer r.Close()
		wbuf, rbuf := make([]byte, benchMsg), make([]byte, benchMsg)
		// The first round learns the readiness from the poller; from
		// then on both sockets are known ready.
		w.Write(wbuf)
		io.ReadFull(r, rbuf)
		b.ReportAllocs()
		b.SetBytes(benchMsg)
		b.ResetTimer()
		cpu0 := threadCPU()
		for range b.N {
			if _, err := w.Write(wbuf); err != nil {
				b.Error(err)
				return
			}
			if n, err := r.Read(rbuf); n != benchMsg || err != nil {
				b.Error(n, err)
				return
			}
		}
		b.StopTimer()
		b.ReportMetric(float64(threadCPU()-cpu0)/float64(b.N), "cpu-ns/op")
	})
	if err := s.Run(); err != nil {
		b.Fatal(err)
	}
}

// benchmarkSyscallReadWrite runs the same loop from a task, with
// writeRead making the calls on the raw descriptors; polled registers them
// with the scheduler's poller first.
func benchmarkSyscallReadWrite(b *testing.B, pair func(testing.TB) (w, r int), writeRead func(w, r int, wbuf, rbuf []byte) bool, polled bool) {
	w, r := pair(b)
	s := sched.New()
	for _, fd := range []int{w, r} {
		if !polled {
			defer unix.Close(fd)
			continue
		}
		f, err := s.Register(fd)
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
	}
	s.Go(func() {
		wbuf, rbuf := make([]byte, benchMsg), make([]byte, benchMsg)
		writeRead(w, r, wbuf, rbuf)
		b.ReportAllocs()
		b.SetBytes(benchMsg)
		b.ResetTimer()
		cpu0 := threadCPU()
		for range b.N {
			if !writeRead(w, r, wbuf, rbuf) {
				b.Error("short write or read")
				return
			}
		}
		b.StopTimer()
		b.ReportMetric(float64(threadCPU()-cpu0)/float64(b.N), "cpu-ns/op")
	})
	if err := s.Run(); err != nil {
		b.Fatal(err)
	}
}

func rawWriteRead(w, r int, wbuf, rbuf []byte) bool {
	n, _, e := unix.RawSyscall6(unix.SYS_SENDTO, uintptr(w), uintptr(unsafe.Pointer(&wbuf[0])), uintptr(len(wbuf)), unix.MSG_NOSIGNAL, 0, 0)
	if e != 0 || int(n) != len(wbuf) {
		return false
	}
	for {
		n, _, e = unix.RawSyscall(unix.SYS_READ, uintptr(r), uintptr(unsafe.Pointer(&rbuf[0])), uintptr(len(rbuf)))
		if e != syscall.EAGAIN { // loopback TCP may lag the write by a hair
			return e == 0 && int(n) == len(rbuf)
		}
	}
}

func unixWriteRead(w, r int, wbuf, rbuf []byte) bool {
	if n, err := unix.Write(w, wbuf); err != nil || n != len(wbuf) {
		return false
	}
	for {
		n, err := unix.Read(r, rbuf)
		if err != unix.EAGAIN {
			return err == nil && n == len(rbuf)
		}
	}
}

// rawSocketpair returns a non-blocking Unix stream socket pair.
func rawSocketpair(t testing.TB) (int, int) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	return fds[0], fds[1]
}

// connSocketpair returns a Unix stream socket pair as two Conns of s.
func connSocketpair(t testing.TB, s *sched.Scheduler) (*netio.Conn, *netio.Conn) {
	a, b := rawSocketpair(t)
	fa, fb := os.NewFile(uintptr(a), "a"), os.NewFile(uintptr(b), "b")
	defer fa.Close()
	defer fb.Close()
	ca, err := netio.FileConn(s, fa)
	if err != nil {
		t.Fatal(err)
	}
	cb, err := netio.FileConn(s, fb)
	if err != nil {
		t.Fatal(err)
	}
	return ca, cb
}

// rawTCPPair returns both ends of a loopback TCP connection, non-blocking,
// with TCP_NODELAY as Conns have it, made with plain system calls.
func rawTCPPair(t testing.TB) (int, int) {
	ln, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(ln)
	lo := &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}
	if err := unix.Bind(ln, lo); err != nil {
		t.Fatal(err)
	}
	if err := unix.Listen(ln, 1); err != nil {
		t.Fatal(err)
	}
	sa, err := unix.Getsockname(ln)
	if err != nil {
		t.Fatal(err)
	}
	c, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Connect(c, sa); err != nil {
		t.Fatal(err)
	}
	a, _, err := unix.Accept4(ln, unix.SOCK_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	for _, fd := range []int{a, c} {
		unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
		unix.SetNonblock(fd, true)
	}
	return c, a
}

// threadCPU returns the calling thread's CPU time in ns; a task's thread
// is its scheduler's, locked for the whole run.
func threadCPU() int64 {
	var ts unix.Timespec
	unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts)
	return ts.Nano()
}

// BenchmarkConnReadWriteVsRaw is the target's same-run ratio: Conn rounds
// and raw-syscall rounds alternate within one task, so that whatever else
// the machine does hits both. x-raw and x-raw-cpu are Conn's wall and
// thread-CPU time over the raw calls' (target ≤ 1.1).
//
// In the -polled variants the raw sockets are registered with the
// scheduler's poller, as a Conn's are: a write on a watched socket also
// runs the kernel's epoll callback, which is the kernel's cost of being
// pollable, not netio's, so those ratios isolate what netio adds.
func BenchmarkConnReadWriteVsRaw(b *testing.B) {
	b.Run("unix", func(b *testing.B) { benchmarkConnVsRaw(b, connSocketpair, rawSocketpair, false) })
	b.Run("tcp", func(b *testing.B) { benchmarkConnVsRaw(b, tcpPairOn, rawTCPPair, false) })
	b.Run("unix-polled", func(b *testing.B) { benchmarkConnVsRaw(b, connSocketpair, rawSocketpair, true) })
	b.Run("tcp-polled", func(b *testing.B) { benchmarkConnVsRaw(b, tcpPairOn, rawTCPPair, true) })
}

func benchmarkConnVsRaw(b *testing.B, connPair func(testing.TB, *sched.Scheduler) (*netio.Conn, *netio.Conn), rawPair func(testing.TB) (int, int), polled bool) {
	s := sched.New()
	s.Go(func() {
		cw, cr := connPair(b, s)
		defer cw.Close()
		defer cr.Close()
		rw, rr := rawPair(b)
		for _, fd := range []int{rw, rr} {
			if !polled {
				defer unix.Close(fd)
				continue
			}
			f, err := s.Register(fd)
			if err != nil {
				unix.Close(fd)
				b.Error(err)
				return
			}
			defer f.Close()
		}
		wbuf, rbuf := make([]byte, benchMsg), make([]byte, benchMsg)
		cw.Write(wbuf)
		io.ReadFull(cr, rbuf)
		rawWriteRead(rw, rr, wbuf, rbuf)
		const rounds = 20
		per := max(b.N/rounds, 1)
		var connWall, rawWall, connCPU, rawCPU int64
		b.ResetTimer()
		for range rounds {
			t0, c0 := nanotime(), threadCPU()
			for range per {
				cw.Write(wbuf)
				if n, err := cr.Read(rbuf); n != benchMsg || err != nil {
					b.Error(n, err)
					return
				}
			}
			t1, c1 := nanotime(), threadCPU()
			for range per {
				if !rawWriteRead(rw, rr, wbuf, rbuf) {
					b.Error("short write or read")
					return
				}
			}
			t2, c2 := nanotime(), threadCPU()
			connWall += t1 - t0
			rawWall += t2 - t1
			connCPU += c1 - c0
			rawCPU += c2 - c1
		}
		b.StopTimer()
		n := float64(per * rounds)
		b.ReportMetric(float64(connWall)/n, "ns/op")
		b.ReportMetric(float64(rawWall)/n, "raw-ns/op")
		b.ReportMetric(float64(connWall)/float64(rawWall), "x-raw")
		b.ReportMetric(float64(connCPU)/float64(rawCPU), "x-raw-cpu")
	})
	if err := s.Run(); err != nil {
		b.Fatal(err)
	}
}

// nanotime is the monotonic clock in ns.
func nanotime() int64 {
	var ts unix.Timespec
	unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return ts.Nano()
}
