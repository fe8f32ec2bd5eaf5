package asm

import (
	"errors"
	"fmt"
	"os"
	"runtime"
)

// PingPong is two raw contexts, each on its own Stack, running the Volley
// routine against each other: the measured floor of a user-level switch.
// Its stacks are mapped once by NewPingPong, so Run can be called again and
// again (a benchmark runs its switches in chunks of Run calls). A PingPong
// is not safe for concurrent use.
type PingPong struct {
	host   Regs          // the goroutine calling Run, while it is inside Run
	ctx    [2]Regs       // the two raw contexts
	volley [2]VolleyArgs // their arguments
	left   int64         // switches left in this Run, shared by both sides
	stacks [2]*Stack     // one page each; nil once closed
	_      [0]func()     // not comparable
}

// NewPingPong maps the two stacks of a PingPong. It returns an error
// wrapping errors.ErrUnsupported where Supported is false.
func NewPingPong() (*PingPong, error) {
	if !Supported {
		return nil, fmt.Errorf("asm: NewPingPong on %s/%s: %w", runtime.GOOS, runtime.GOARCH, errors.ErrUnsupported)
	}
	p := new(PingPong)
	for i := range p.stacks {
		s, err := NewStack(os.Getpagesize())
		if err != nil {
			p.Close()
			return nil, err
		}
		p.stacks[i] = s
	}
	for i := range p.volley {
		p.volley[i] = VolleyArgs{Peer: &p.ctx[1-i], Host: &p.host, Left: &p.left}
	}
	return p, nil
}

// Run makes exactly n switches between the two contexts and returns.
//
// Counting: Run switches from the calling goroutine to the first context;
// the contexts then switch to each other n times, the first context making
// the odd-numbered switches and the second the even ones; finally the
// context that made the last switch (or the first one, if n is 0) switches
// back. That is n+2 calls of Switch, and n switches as counted by Sent and
// by the benchmarks: one switch is one Switch call, saving one context and
// resuming another.
//
// Run does not return to Go code until it is done, so it delays any
// stop-the-world phase of the garbage collector (and preemption of this
// goroutine) by its whole duration: keep n to around 100,000 (a fraction of
// a millisecond) per call.
func (p *PingPong) Run(n int) error {
	switch {
	case p.stacks[0] == nil:
		return fmt.Errorf("asm: PingPong.Run after Close: %w", os.ErrClosed)
	case n < 0:
		return fmt.Errorf("asm: PingPong.Run(%d): negative count", n)
	}
	p.left = int64(n)
	for i := range p.ctx {
		// Re-arming is cheaper than tracking which side was left suspended
		// where, and makes every Run start the same way.
		if err := p.ctx[i].Prepare(p.stacks[i], Volley(&p.volley[i])); err != nil {
			return err
		}
	}
	Switch(&p.host, &p.ctx[0])
	runtime.KeepAlive(p)
	return nil
}

// Sent returns how many switches each context has made to the other since
// NewPingPong; after Runs totalling n switches, a+b == n.
func (p *PingPong) Sent() (a, b int64) {
	return p.volley[0].Sent, p.volley[1].Sent
}

// Close frees the stacks. Run reports an error after Close, and so does a
// second Close.
func (p *PingPong) Close() error {
	if p.stacks[0] == nil && p.stacks[1] == nil {
		return fmt.Errorf("asm: PingPong already closed: %w", os.ErrClosed)
	}
	var errs []error
	for i, s := range p.stacks {
		if s != nil {
			errs = append(errs, s.Free())
			p.stacks[i] = nil
		}
	}
	return errors.Join(errs...)
}
