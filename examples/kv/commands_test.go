package main

import (
	"strings"
	"testing"
)

// TestLookup checks the command table by length and first letter
// against the map of names: every name in any case, and near misses.
func TestLookup(t *testing.T) {
	for name, cmd := range commands {
		for _, spell := range []string{name, strings.ToUpper(name), strings.ToUpper(name[:1]) + name[1:]} {
			if got := lookup([]byte(spell)); got != cmd {
				t.Errorf("lookup(%q) = %v, want %q", spell, got, name)
			}
		}
		for _, miss := range []string{name[:len(name)-1], name + "x", "x" + name[1:], name + "\x00", "\x00" + name} {
			if _, ok := commands[miss]; ok {
				continue
			}
			if got := lookup([]byte(miss)); got != nil {
				t.Errorf("lookup(%q) = %q, want none", miss, got.name)
			}
		}
	}
	for _, miss := range []string{"", "@et", "[et", "\xc7et", "'et", "gEt\x00", "HOST;", "host\x1a", "flushall1", "ſet", "\x07et"} {
		if got := lookup([]byte(miss)); got != nil {
			t.Errorf("lookup(%q) = %q, want none", miss, got.name)
		}
	}
}
