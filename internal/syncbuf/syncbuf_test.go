package syncbuf_test

import (
	"strings"
	"sync"
	"testing"

	"github.com/coopgo/coop/internal/syncbuf"
)

// TestConcurrentWrites: every write lands whole, whatever the
// interleaving (run it under -race).
func TestConcurrentWrites(t *testing.T) {
	var b syncbuf.Buffer
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				b.Write([]byte("line\n"))
				_ = b.String()
			}
		})
	}
	wg.Wait()
	if got, want := b.String(), strings.Repeat("line\n", 800); got != want {
		t.Errorf("got %d bytes, want %d: %q…", len(got), len(want), got[:min(len(got), 40)])
	}
}
