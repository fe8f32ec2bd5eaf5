package spin_test

import (
	"testing"
	"time"

	"github.com/coopgo/coop/internal/spin"
)

// TestPauseCountEdges checks that Pause honours its count at the edges:
// each call returns within a second. A loop that counted down before it
// tested the count would take Pause(0) round 2^32 times (a minute at
// PAUSE's 40 cycles), and one that tested the wrong flag would not stop.
func TestPauseCountEdges(t *testing.T) {
	for _, n := range []uint32{0, 1, 2, 1000} {
		done := make(chan struct{})
		go func() {
			spin.Pause(n)
			close(done)
		}()
		select {
		case <-done:
		case <-time.After(time.Second):
			t.Fatalf("Pause(%d) still runs after a second", n)
		}
	}
}

// TestPauseTakesTime checks that the hint paces a loop: a million pauses
// take measurable time (at least a cycle each, which even a NOP takes).
func TestPauseTakesTime(t *testing.T) {
	start := time.Now()
	spin.Pause(1_000_000)
	if d := time.Since(start); d < 100*time.Microsecond {
		t.Errorf("a million pauses took %v; want at least 100µs", d)
	}
}

func BenchmarkPause(b *testing.B) {
	for b.Loop() {
		spin.Pause(1)
	}
}
