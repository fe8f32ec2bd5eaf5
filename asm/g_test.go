package asm

import "testing"

var sink uintptr

func BenchmarkG(b *testing.B) {
	for b.Loop() {
		sink = G()
	}
}
func TestG(t *testing.T) {
	a := G()
	ch := make(chan uintptr)
	go func() { ch <- G() }()
	if a == <-ch || a == 0 || a != G() {
		t.Fatal("bad")
	}
}

//go:noinline
func plain() uintptr { return 1 }
func BenchmarkPlainCall(b *testing.B) {
	for b.Loop() {
		sink = plain()
	}
}
func BenchmarkGLoop(b *testing.B) {
	for i := 0; i < b.N; i++ {
		sink = G()
	}
}
