package netio_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/coopgo/coop/netio"
	"github.com/coopgo/coop/sched"
)

// panicOf calls f and returns what it panicked with, as a string, or ""
// if it returned.
func panicOf(f func()) (msg string) {
	defer func() {
		if p := recover(); p != nil {
			msg = fmt.Sprint(p)
		}
	}()
	f()
	return ""
}

// TestNilScheduler checks that every exported function taking a scheduler
// or a group panics at once when given none, naming itself, instead of
// dereferencing nil deep inside; and that a zero Scheduler or Group, not
// made by package sched's constructors, is refused the same way.
func TestNilScheduler(t *testing.T) {
	ctx := context.Background()
	var lc netio.ListenConfig
	var d netio.Dialer
	f := os.Stdin // never reached
	calls := []struct {
		name string
		f    func(s *sched.Scheduler)
	}{
		{"Listen", func(s *sched.Scheduler) { netio.Listen(s, "tcp", "127.0.0.1:0") }},
		{"ListenConfig.Listen", func(s *sched.Scheduler) { lc.Listen(s, "tcp", "127.0.0.1:0") }},
		{"ListenPacket", func(s *sched.Scheduler) { netio.ListenPacket(s, "udp", "127.0.0.1:0") }},
		{"Dial", func(s *sched.Scheduler) { netio.Dial(s, "tcp", "127.0.0.1:1") }},
		{"DialContext", func(s *sched.Scheduler) { netio.DialContext(ctx, s, "tcp", "127.0.0.1:1") }},
		{"Dialer.Dial", func(s *sched.Scheduler) { d.Dial(s, "tcp", "127.0.0.1:1") }},
		{"Dialer.DialContext", func(s *sched.Scheduler) { d.DialContext(ctx, s, "tcp", "127.0.0.1:1") }},
		{"FileConn", func(s *sched.Scheduler) { netio.FileConn(s, f) }},
		{"FileListener", func(s *sched.Scheduler) { netio.FileListener(s, f) }},
		{"ListenConfig.FileListener", func(s *sched.Scheduler) { lc.FileListener(s, f) }},
		{"FilePacketConn", func(s *sched.Scheduler) { netio.FilePacketConn(s, f) }},
		{"AdoptConn", func(s *sched.Scheduler) { netio.AdoptConn(s, nil) }},
		{"AdoptListener", func(s *sched.Scheduler) { netio.AdoptListener(s, nil) }},
		{"AdoptPacketConn", func(s *sched.Scheduler) { netio.AdoptPacketConn(s, nil) }},
	}
	for _, c := range calls {
		if got, want := panicOf(func() { c.f(nil) }), "netio: "+c.name+" with nil Scheduler"; got != want {
			t.Errorf("%s: panic %q, want %q", c.name, got, want)
		}
	}
	// A zero Scheduler gets as far as package sched, which refuses it.
	for _, c := range calls[:7] {
		if got := panicOf(func() { c.f(new(sched.Scheduler)) }); !strings.HasPrefix(got, "sched: ") || !strings.HasSuffix(got, ": Scheduler used without New") {
			t.Errorf("%s with a zero Scheduler: panic %q, want sched's \"Scheduler used without New\"", c.name, got)
		}
	}
	groups := []struct {
		name string
		f    func(g *sched.Group)
	}{
		{"ListenGroup", func(g *sched.Group) { netio.ListenGroup(g, "tcp", "127.0.0.1:0") }},
		{"ListenConfig.ListenGroup", func(g *sched.Group) { lc.ListenGroup(g, "tcp", "127.0.0.1:0") }},
	}
	for _, c := range groups {
		if got, want := panicOf(func() { c.f(nil) }), "netio: "+c.name+" with nil Group"; got != want {
			t.Errorf("%s: panic %q, want %q", c.name, got, want)
		}
		if got, want := panicOf(func() { c.f(new(sched.Group)) }), "netio: "+c.name+" with a Group not made by sched.NewGroup"; got != want {
			t.Errorf("%s with a zero Group: panic %q, want %q", c.name, got, want)
		}
	}
}
