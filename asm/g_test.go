package asm_test

import (
	"sync"
	"testing"

	"github.com/coopgo/coop/asm"
)

func TestGStable(t *testing.T) {
	g := asm.G()
	if g == 0 {
		t.Fatal("G() = 0")
	}
	for range 1000 {
		if got := asm.G(); got != g {
			t.Fatalf("G() changed from %#x to %#x on one goroutine", g, got)
		}
	}
}

// TestGDistinct keeps many goroutines alive at once: their tokens must all
// differ (tokens of goroutines that have exited may be reused).
func TestGDistinct(t *testing.T) {
	const n = 100
	var (
		wg      sync.WaitGroup
		started sync.WaitGroup
		release = make(chan struct{})
		tokens  = make([]uintptr, n)
		stable  = make([]bool, n)
	)
	started.Add(n)
	for i := range n {
		wg.Go(func() {
			tokens[i] = asm.G()
			started.Done()
			<-release
			stable[i] = asm.G() == tokens[i]
		})
	}
	started.Wait()
	close(release)
	wg.Wait()

	seen := map[uintptr]int{asm.G(): -1}
	for i, g := range tokens {
		if !stable[i] {
			t.Errorf("goroutine %d: G() changed while it lived", i)
		}
		if j, dup := seen[g]; dup || g == 0 {
			t.Errorf("goroutines %d and %d (-1: the test's) share the token %#x", i, j, g)
		}
		seen[g] = i
	}
}
