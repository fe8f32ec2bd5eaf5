package main

import (
	"io"
	"strings"
	"testing"
	"time"

	"github.com/coopgo/coop/examples/internal/exampletest"
)

// TestFlushDelay checks -flush-delay: lines of two messages sent 50 ms
// apart, well within the delay, reach a member waiting for the first in
// one write, in order; without the delay the first leaves alone, 50 ms
// before the second.
func TestFlushDelay(t *testing.T) {
	modes(t, func(t *testing.T, mode string) {
		s := start(t, mode, "-flush-delay", "500ms")
		a := login(t, s.Addr, "alice")
		b := login(t, s.Addr, "bob")
		a.join("#d")
		b.join("#d")
		a.expect(":" + b.prefix() + " JOIN #d")
		a.send("PRIVMSG #d :one")
		// The second message goes while bob waits for the first.
		sent := make(chan error, 1)
		go func() {
			time.Sleep(50 * time.Millisecond)
			_, err := io.WriteString(a.c, "PRIVMSG #d :two\r\n")
			sent <- err
		}()
		b.expect(":" + a.prefix() + " PRIVMSG #d :one")
		if err := <-sent; err != nil {
			t.Fatal(err)
		}
		// The second line came with the first: bob's reader holds it
		// already, from the read that returned the first.
		want := ":" + a.prefix() + " PRIVMSG #d :two\r\n"
		if got, _ := b.r.Peek(b.r.Buffered()); string(got) != want {
			t.Errorf("buffered after the first line: %q, want %q (one write for both)", got, want)
		}
		b.expect(":" + a.prefix() + " PRIVMSG #d :two")
	})
}

// TestFlushDelayLimit checks that a delay over a second is refused with
// a reason.
func TestFlushDelayLimit(t *testing.T) {
	out, err := exampletest.Command(bin, "-addr", "127.0.0.1:0", "-flush-delay", "2s").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "-flush-delay 2s: at most 1s") {
		t.Errorf("chat -flush-delay 2s: %v, %q", err, out)
	}
}
