//go:build linux

package netio_test

import (
	"errors"
	"net"
	"os"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/coopgo/coop/netio"
	"github.com/coopgo/coop/sched"
)

// TestReadClosedInTheTurnThatWokeIt: the edge that wakes a parked Read and
// a Close of its connection can be handled in one turn of the host loop,
// the close last (here a descriptor hook closes the connection, from the
// same batch of poller events; a Close from another goroutine lands the
// same way). The woken Read must then report the close, never run read(2)
// on a descriptor that is gone: EBADF, or another connection's data if
// the number was reused meanwhile.
func TestReadClosedInTheTurnThatWokeIt(t *testing.T) {
	s := sched.New()
	a, peer := rawSocketpair(t)
	defer unix.Close(peer)
	fa := os.NewFile(uintptr(a), "a")
	c, err := netio.FileConn(s, fa)
	fa.Close()
	if err != nil {
		t.Fatal(err)
	}
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_NONBLOCK|unix.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	defer unix.Close(p[1])
	trigger, err := s.Register(p[0]) // closed by trigger.Close below
	if err != nil {
		t.Fatal(err)
	}

	var n int
	var rerr error
	s.Go(func() {
		buf := make([]byte, 64)
		n, rerr = c.Read(buf) // parks: nothing to read yet
	})
	s.Go(func() {
		// The reader has parked: it ran first. Arm the hook, then make
		// both descriptors ready before the scheduler polls again, the
		// connection first: one poll reports both, in that order.
		trigger.SetReadHook(func(error) {
			c.Close()
			trigger.Close()
		})
		if _, err := unix.Write(peer, []byte("request")); err != nil {
			t.Error(err)
		}
		if _, err := unix.Write(p[1], []byte{1}); err != nil {
			t.Error(err)
		}
	})
	if err := s.Run(); err != nil {
		t.Fatal(err)
	}
	if n != 0 || !errors.Is(rerr, net.ErrClosed) {
		t.Fatalf("Read woken in the turn its connection was closed: %d, %v; want 0 and an error matching net.ErrClosed", n, rerr)
	}
}
