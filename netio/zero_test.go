package netio_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

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

// checkEINVAL reports every call that does not fail with a bare
// syscall.EINVAL, as the methods of package net's zero conns do, and any
// call that panics.
func checkEINVAL(t *testing.T, what string, calls map[string]func() error) {
	t.Helper()
	for name, f := range calls {
		var err error
		if p := panicOf(func() { err = f() }); p != "" {
			t.Errorf("%s %s: panic: %s", what, name, p)
		} else if err != syscall.EINVAL {
			t.Errorf("%s %s: error %#v, want syscall.EINVAL", what, name, err)
		}
	}
}

func TestZeroConn(t *testing.T) {
	for _, c := range []*netio.Conn{new(netio.Conn), nil} {
		what := fmt.Sprintf("%T(%p)", c, c)
		var b [8]byte
		checkEINVAL(t, what, map[string]func() error{
			"Read":               func() error { _, err := c.Read(b[:]); return err },
			"Write":              func() error { _, err := c.Write(b[:]); return err },
			"TryWrite":           func() error { _, err := c.TryWrite(b[:]); return err },
			"WriteBuffers":       func() error { _, err := c.WriteBuffers(&net.Buffers{b[:]}); return err },
			"ReadFrom":           func() error { _, err := c.ReadFrom(bytes.NewReader(b[:])); return err },
			"WriteTo":            func() error { _, err := c.WriteTo(io.Discard); return err },
			"Close":              c.Close,
			"CloseRead":          c.CloseRead,
			"CloseWrite":         c.CloseWrite,
			"SetDeadline":        func() error { return c.SetDeadline(time.Time{}) },
			"SetReadDeadline":    func() error { return c.SetReadDeadline(time.Time{}) },
			"SetWriteDeadline":   func() error { return c.SetWriteDeadline(time.Time{}) },
			"SetNoDelay":         func() error { return c.SetNoDelay(true) },
			"SetKeepAlive":       func() error { return c.SetKeepAlive(true) },
			"SetKeepAlivePeriod": func() error { return c.SetKeepAlivePeriod(time.Second) },
			"SetLinger":          func() error { return c.SetLinger(0) },
			"SetReadBuffer":      func() error { return c.SetReadBuffer(1024) },
			"SetWriteBuffer":     func() error { return c.SetWriteBuffer(1024) },
			"SyscallConn":        func() error { _, err := c.SyscallConn(); return err },
		})
		if p := panicOf(func() {
			if a := c.LocalAddr(); a != nil {
				t.Errorf("%s LocalAddr: %v, want nil", what, a)
			}
			if a := c.RemoteAddr(); a != nil {
				t.Errorf("%s RemoteAddr: %v, want nil", what, a)
			}
		}); p != "" {
			t.Errorf("%s addresses: panic: %s", what, p)
		}
	}
}

func TestZeroListener(t *testing.T) {
	for _, l := range []*netio.Listener{new(netio.Listener), nil} {
		what := fmt.Sprintf("%T(%p)", l, l)
		checkEINVAL(t, what, map[string]func() error{
			"Accept":      func() error { _, err := l.Accept(); return err },
			"AcceptConn":  func() error { _, err := l.AcceptConn(); return err },
			"Close":       l.Close,
			"SetDeadline": func() error { return l.SetDeadline(time.Time{}) },
		})
		if p := panicOf(func() {
			if a := l.Addr(); a != nil {
				t.Errorf("%s Addr: %v, want nil", what, a)
			}
		}); p != "" {
			t.Errorf("%s Addr: panic: %s", what, p)
		}
	}
	// Serve says what is wrong with the listener, as it does for nil.
	for _, l := range []*netio.Listener{new(netio.Listener), nil} {
		var err error
		if p := panicOf(func() { err = netio.Serve(l, func(*netio.Conn) {}) }); p != "" || err == nil || !strings.HasPrefix(err.Error(), "netio: Serve with ") {
			t.Errorf("Serve(%p): %v, panic %q; want a netio error", l, err, p)
		}
	}
}

func TestZeroPacketConn(t *testing.T) {
	to := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 9}
	for _, p := range []*netio.PacketConn{new(netio.PacketConn), nil} {
		what := fmt.Sprintf("%T(%p)", p, p)
		var b [8]byte
		checkEINVAL(t, what, map[string]func() error{
			"ReadFrom":            func() error { _, _, err := p.ReadFrom(b[:]); return err },
			"ReadFromUDPAddrPort": func() error { _, _, err := p.ReadFromUDPAddrPort(b[:]); return err },
			"WriteTo":             func() error { _, err := p.WriteTo(b[:], to); return err },
			"WriteToUDPAddrPort":  func() error { _, err := p.WriteToUDPAddrPort(b[:], to.AddrPort()); return err },
			"Close":               p.Close,
			"SetDeadline":         func() error { return p.SetDeadline(time.Time{}) },
			"SetReadDeadline":     func() error { return p.SetReadDeadline(time.Time{}) },
			"SetWriteDeadline":    func() error { return p.SetWriteDeadline(time.Time{}) },
			"SetReadBuffer":       func() error { return p.SetReadBuffer(1024) },
			"SetWriteBuffer":      func() error { return p.SetWriteBuffer(1024) },
			"SyscallConn":         func() error { _, err := p.SyscallConn(); return err },
		})
		if pn := panicOf(func() {
			if a := p.LocalAddr(); a != nil {
				t.Errorf("%s LocalAddr: %v, want nil", what, a)
			}
		}); pn != "" {
			t.Errorf("%s LocalAddr: panic: %s", what, pn)
		}
	}
}

// TestZeroReader checks that a zero Reader, and Readers made for a zero
// or nil Conn, fail their reads as the zero Conn does.
func TestZeroReader(t *testing.T) {
	var rs []*netio.Reader
	if p := panicOf(func() {
		rs = []*netio.Reader{new(netio.Reader), netio.NewReader(new(netio.Conn)), netio.NewReaderSize(nil, 64)}
	}); p != "" {
		t.Fatalf("NewReader of a zero or nil Conn: panic: %s", p)
	}
	for i, r := range rs {
		what := fmt.Sprintf("Reader %d", i)
		var b [8]byte
		checkEINVAL(t, what, map[string]func() error{
			"Fill":      func() error { _, err := r.Fill(); return err },
			"Peek":      func() error { _, err := r.Peek(1); return err },
			"Discard":   func() error { _, err := r.Discard(1); return err },
			"Read":      func() error { _, err := r.Read(b[:]); return err },
			"ReadSlice": func() error { _, err := r.ReadSlice('\n'); return err },
			"WriteTo":   func() error { _, err := r.WriteTo(io.Discard); return err },
		})
		if p := panicOf(func() {
			r.Grow(10)
			r.Release()
			if n := r.Buffered(); n != 0 {
				t.Errorf("%s Buffered: %d", what, n)
			}
		}); p != "" {
			t.Errorf("%s Grow, Release, Buffered: panic: %s", what, p)
		}
	}
}

// TestNilSocketArguments checks that the functions that make a netio
// socket from a standard library one return an error, not a panic, when
// given none.
func TestNilSocketArguments(t *testing.T) {
	s := sched.New()
	var lc netio.ListenConfig
	calls := map[string]func() error{
		"FileConn":                  func() error { _, err := netio.FileConn(s, nil); return err },
		"FileListener":              func() error { _, err := netio.FileListener(s, nil); return err },
		"ListenConfig.FileListener": func() error { _, err := lc.FileListener(s, nil); return err },
		"FilePacketConn":            func() error { _, err := netio.FilePacketConn(s, nil); return err },
		"AdoptConn":                 func() error { _, err := netio.AdoptConn(s, nil); return err },
		"AdoptListener":             func() error { _, err := netio.AdoptListener(s, nil); return err },
		"AdoptPacketConn":           func() error { _, err := netio.AdoptPacketConn(s, nil); return err },
	}
	for name, f := range calls {
		var err error
		if p := panicOf(func() { err = f() }); p != "" {
			t.Errorf("%s(nil): panic: %s", name, p)
			continue
		}
		var oe *net.OpError
		if !errors.As(err, &oe) {
			t.Errorf("%s(nil): error %#v, want a *net.OpError", name, err)
		}
	}
}
