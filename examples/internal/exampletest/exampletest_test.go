package exampletest

import (
	"errors"
	"net"
	"runtime"
	"testing"
)

// A port that another process took between FreeAddr and the server's
// bind: the probe connects, but to the other process's socket, and start
// says so instead of handing the test a server it cannot reach.
func TestStartPortTaken(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc")
	}
	Need(t, "sleep")
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	// The "server" never listens, so only the other socket answers.
	s, err := start(t, taken.Addr().String(), "sleep", "30")
	if !errors.Is(err, errPortTaken) {
		t.Fatalf("start on a port another process listens on: %v, %v; want errPortTaken", s, err)
	}
}

// A probe that reached another process's listener which closed before
// the look-up proves nothing: start goes on waiting, and reports the
// port taken when the server exits unable to bind it, instead of handing
// the test a server that never listened (examples/chat's TestIrssi got
// "connection refused" from one in CI, its server's log saying "bind:
// address already in use").
func TestStartListenerGone(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc")
	}
	Need(t, "sh", "sleep")
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	looked := 0
	listenersOf = func(addr string, pid int) (int, int) {
		looked++
		taken.Close() // gone between the probe and the look-up
		return listeners(addr, pid)
	}
	defer func() { listenersOf = listeners }()
	// The "server" never binds and soon exits saying why, as one that
	// found the port taken does.
	s, err := start(t, taken.Addr().String(), "sh", "-c", "sleep 0.3; echo 'listen tcp: bind: address already in use' >&2; exit 1")
	if !errors.Is(err, errPortTaken) {
		t.Fatalf("start, the probe's listener gone before the look-up: %v, %v; want errPortTaken", s, err)
	}
	if looked != 1 {
		t.Errorf("%d look-ups, want 1 (the one probe that connected)", looked)
	}
}

// A server that listens on its port is started; one that cannot bind it
// is reported as having found the port taken.
func TestStartListens(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc")
	}
	Need(t, "nc")
	addr := FreeAddr(t)
	_, port, _ := net.SplitHostPort(addr)
	s, err := start(t, addr, "nc", "-lk", "127.0.0.1", port)
	if err != nil {
		t.Fatal(err)
	}
	if ours, others := listeners(addr, s.Pid()); ours != 1 || others != 0 {
		t.Errorf("listeners on %s: %d of the server's, %d of others; want 1, 0", addr, ours, others)
	}
	if s2, err := start(t, addr, "nc", "-lk", "127.0.0.1", port); !errors.Is(err, errPortTaken) {
		t.Errorf("a second server on %s: %v, %v; want errPortTaken", addr, s2, err)
	}
}
