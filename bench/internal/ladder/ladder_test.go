package ladder_test

import (
	"testing"

	"github.com/coopgo/coop/bench/internal/ladder"
)

// TestRowsDescribed: every rung says what one switch is, and runs or says
// why not.
func TestRowsDescribed(t *testing.T) {
	rows := ladder.Rows()
	if len(rows) < 15 {
		t.Errorf("%d rows, want the whole ladder", len(rows))
	}
	for _, r := range rows {
		if r.What == "" || r.Run == nil && r.Skip == "" {
			t.Errorf("row %q: What %q, Run set %v, Skip %q", r.Name, r.What, r.Run != nil, r.Skip)
		}
	}
}

// TestInProcessRows runs the cheap rows for a few switches in this process.
func TestInProcessRows(t *testing.T) {
	for _, name := range []string{"call", "interface step", "iter.Pull", "ucontext.Swap", "chan GOMAXPROCS=1", "null syscall", "swapcontext (glibc)", "asm.Switch"} {
		r, ok := ladder.Lookup(name)
		if !ok {
			t.Fatalf("no row %q", name)
		}
		if r.Skip != "" {
			t.Logf("%s: skipped: %s", name, r.Skip)
			continue
		}
		var tm ladder.Timer
		if err := r.Run(1000, &tm); err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if tm.NS() <= 0 || tm.Ticks() == 0 {
			t.Errorf("%s: %d ns, %d ticks", name, tm.NS(), tm.Ticks())
		}
	}
}
