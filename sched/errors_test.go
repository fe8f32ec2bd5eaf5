package sched_test

import (
	"errors"
	"net"
	"testing"

	"github.com/coopgo/coop/sched"
)

// TestClosedErrors checks that the errors of a closed Chan, Inbox or XChan
// and of a stopped scheduler read as what they are, not as a network
// connection's, while they still match net.ErrClosed for code that checks
// for "closed" the standard library's way.
func TestClosedErrors(t *testing.T) {
	c := sched.NewChan[int](1)
	c.Close()
	x := sched.NewXChan[int](1)
	x.Close()
	s := sched.New()
	in := sched.NewInbox[int](s, 1)
	in.Close()
	done := sched.New()
	mustRun(t, done)
	_, xerr := x.TryRecv()
	tests := []struct {
		name string
		err  error
		want string
		is   error
	}{
		{"Chan.Send", c.TrySend(1), "sched: closed", sched.ErrClosed},
		{"Chan.Close", c.Close(), "sched: closed", sched.ErrClosed},
		{"XChan.TryRecv", xerr, "sched: closed", sched.ErrClosed},
		{"XChan.TrySend", x.TrySend(1), "sched: closed", sched.ErrClosed},
		{"Inbox.Send", in.Send(1), "sched: closed", sched.ErrClosed},
		{"Do after Run", done.Do(func() {}), "sched: scheduler stopped", sched.ErrStopped},
	}
	for _, tt := range tests {
		if tt.err == nil {
			t.Errorf("%s: nil error, want %q", tt.name, tt.want)
			continue
		}
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("%s: error %q, want %q", tt.name, got, tt.want)
		}
		if !errors.Is(tt.err, tt.is) {
			t.Errorf("%s: %v does not match %v", tt.name, tt.err, tt.is)
		}
		if !errors.Is(tt.err, net.ErrClosed) {
			t.Errorf("%s: %v does not match net.ErrClosed", tt.name, tt.err)
		}
	}
	if errors.Is(sched.ErrClosed, sched.ErrStopped) || errors.Is(sched.ErrStopped, sched.ErrClosed) {
		t.Error("ErrClosed and ErrStopped match each other")
	}
	if errors.Is(net.ErrClosed, sched.ErrClosed) {
		t.Error("net.ErrClosed matches sched.ErrClosed: a closed socket is not a closed Chan")
	}
}
