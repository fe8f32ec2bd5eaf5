package sched

import (
	"testing"
	"unsafe"
)

// TestHotLayout pins the layouts that keep a parked session cheap to wake
// (see Task and FD): each is a size class that Go allocates on a cache-line
// boundary, and what the hot paths touch sits in its first 64 bytes. A
// field added to either must go behind Task.x or into a later line.
func TestHotLayout(t *testing.T) {
	if unsafe.Sizeof(uintptr(0)) != 8 {
		t.Skip("the layout is planned for 64-bit platforms")
	}
	var tk Task
	var f FD
	if got := unsafe.Sizeof(tk); got != 128 {
		t.Errorf("Task is %d bytes, want 128", got)
	}
	if got := unsafe.Sizeof(f); got != 128 {
		t.Errorf("FD is %d bytes, want 128", got)
	}
	hot := map[string]uintptr{
		"Task.s":       unsafe.Offsetof(tk.s) + unsafe.Sizeof(tk.s),
		"Task.w":       unsafe.Offsetof(tk.w) + unsafe.Sizeof(tk.w),
		"Task.next":    unsafe.Offsetof(tk.next) + unsafe.Sizeof(tk.next),
		"Task.prev":    unsafe.Offsetof(tk.prev) + unsafe.Sizeof(tk.prev),
		"Task.wakeErr": unsafe.Offsetof(tk.wakeErr) + unsafe.Sizeof(tk.wakeErr),
		"Task.waitSeq": unsafe.Offsetof(tk.waitSeq) + unsafe.Sizeof(tk.waitSeq),
		"Task.state":   unsafe.Offsetof(tk.state) + unsafe.Sizeof(tk.state),
		"Task.why":     unsafe.Offsetof(tk.why) + unsafe.Sizeof(tk.why),
		"FD.rd":        unsafe.Offsetof(f.rd) + unsafe.Sizeof(f.rd),
		"FD.wr":        unsafe.Offsetof(f.wr) + unsafe.Sizeof(f.wr),
		"FD.s":         unsafe.Offsetof(f.s) + unsafe.Sizeof(f.s),
		"FD.seq":       unsafe.Offsetof(f.seq) + unsafe.Sizeof(f.seq),
		"FD.closed":    unsafe.Offsetof(f.closed) + unsafe.Sizeof(f.closed),
	}
	for name, end := range hot {
		if end > 64 {
			t.Errorf("%s ends at byte %d, outside the first cache line", name, end)
		}
	}
	// The premise: Go puts objects of these sizes on 64-byte boundaries.
	for i := range 100 {
		tp, fp := &Task{id: uint64(i)}, &FD{sysfd: i}
		layoutSink = append(layoutSink, tp, fp) // on the heap
		if a := uintptr(unsafe.Pointer(tp)); a%64 != 0 {
			t.Fatalf("a Task allocated at %#x, not on a cache line", a)
		}
		if a := uintptr(unsafe.Pointer(fp)); a%64 != 0 {
			t.Fatalf("an FD allocated at %#x, not on a cache line", a)
		}
	}
}

var layoutSink []any
