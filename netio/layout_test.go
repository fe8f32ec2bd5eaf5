//go:build linux || darwin || dragonfly || freebsd || netbsd || openbsd

package netio

import (
	"testing"
	"unsafe"
)

// TestConnLayout pins Conn's layout (see Conn): 192 bytes, a size class Go
// allocates on 64-byte boundaries, with what Read, Write and a ready-mode
// call touch in its first cache line, the server's re-arm included (it
// reads hasRd, and rd only when a Reader was made).
func TestConnLayout(t *testing.T) {
	if unsafe.Sizeof(uintptr(0)) != 8 {
		t.Skip("the layout is planned for 64-bit platforms")
	}
	var c Conn
	if got := unsafe.Sizeof(c); got != 192 {
		t.Errorf("Conn is %d bytes, want 192", got)
	}
	hot := map[string]uintptr{
		"wslow":    unsafe.Offsetof(c.wslow) + unsafe.Sizeof(c.wslow),
		"wbusy":    unsafe.Offsetof(c.wbusy) + unsafe.Sizeof(c.wbusy),
		"hasRd":    unsafe.Offsetof(c.hasRd) + unsafe.Sizeof(c.hasRd),
		"s":        unsafe.Offsetof(c.s) + unsafe.Sizeof(c.s),
		"fd":       unsafe.Offsetof(c.fd) + unsafe.Sizeof(c.fd),
		"value":    unsafe.Offsetof(c.value) + unsafe.Sizeof(c.value),
		"sysfd":    unsafe.Offsetof(c.sysfd) + unsafe.Sizeof(c.sysfd),
		"readers":  unsafe.Offsetof(c.readers) + unsafe.Sizeof(c.readers),
		"stream":   unsafe.Offsetof(c.stream) + unsafe.Sizeof(c.stream),
		"reset":    unsafe.Offsetof(c.reset) + unsafe.Sizeof(c.reset),
		"reqOpen":  unsafe.Offsetof(c.reqOpen) + unsafe.Sizeof(c.reqOpen),
		"shutIdle": unsafe.Offsetof(c.shutIdle) + unsafe.Sizeof(c.shutIdle),
	}
	for name, end := range hot {
		if end > 64 {
			t.Errorf("Conn.%s ends at byte %d, outside the first cache line", name, end)
		}
	}
	onLines[Conn](t, "Conn")
}

// onLines checks that 100 heap allocations of a T land on cache-line
// boundaries, as its size class promises.
func onLines[T any](t *testing.T, name string) {
	t.Helper()
	for range 100 {
		p := new(T)
		lineSink = append(lineSink, p) // on the heap
		if a := uintptr(unsafe.Pointer(p)); a%64 != 0 {
			t.Fatalf("a %s allocated at %#x, not on a cache line", name, a)
		}
	}
}

var lineSink []any

// oneLine checks that a T is one cache line, 64 bytes, and that its
// allocations land on line boundaries.
func oneLine[T any](t *testing.T, name string) {
	t.Helper()
	if unsafe.Sizeof(uintptr(0)) != 8 {
		t.Skip("the layout is planned for 64-bit platforms")
	}
	var v T
	if got := unsafe.Sizeof(v); got != 64 {
		t.Errorf("%s is %d bytes, want 64", name, got)
	}
	onLines[T](t, name)
}

// TestSessionLayout: a server's session is one cache line (see session),
// and its allocations land on line boundaries.
func TestSessionLayout(t *testing.T) { oneLine[session](t, "session") }

// TestReadHookLayout: a ready-mode read hook's closure (readHook) is 32
// bytes, a size class Go allocates on 32-byte boundaries, so that it
// never straddles two cache lines: the event that runs it reads all of it
// (the code pointer, the server, the shard, the session).
func TestReadHookLayout(t *testing.T) {
	if unsafe.Sizeof(uintptr(0)) != 8 {
		t.Skip("the layout is planned for 64-bit platforms")
	}
	srv, sh := &Server{}, &shard{}
	for range 100 {
		h := readHook(srv, sh, &session{})
		hookSink = append(hookSink, h)
		a := *(*uintptr)(unsafe.Pointer(&h)) // the closure
		if a%32 != 0 {
			t.Fatalf("a read hook's closure allocated at %#x, not on a 32-byte boundary", a)
		}
	}
}

var hookSink []func(error)

// TestReaderLayout: a Reader is one cache line (see Reader), and its
// allocations land on line boundaries.
func TestReaderLayout(t *testing.T) { oneLine[Reader](t, "Reader") }
