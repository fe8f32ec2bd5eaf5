//go:build amd64 || arm64

package asm_test

import (
	"runtime"
	"strings"
	"testing"

	"github.com/coopgo/coop/asm"
)

// inst is one decoded instruction, as much of it as the test needs.
type inst struct {
	text     string
	size     int
	flow     bool // transfers control: jump, call, return or trap
	indirect bool // an unconditional jump to the address in a register
	pad      bool // filler the linker puts between functions
}

// TestSwitchDisassembly pins down the hot path: Switch is exactly
// switchInsts straight-line instructions ending in an indirect jump, and
// nothing follows it but padding. An edit that adds an instruction, a
// branch or a frame (the assembler would add a prologue) fails here.
func TestSwitchDisassembly(t *testing.T) {
	entry := asm.SwitchEntry()
	f := runtime.FuncForPC(entry)
	if f == nil || f.Entry() != entry || !strings.HasSuffix(f.Name(), "/asm.Switch") {
		t.Fatalf("SwitchEntry() = %#x is not the entry of asm.Switch (FuncForPC: %v)", entry, f)
	}

	const room = 256 // far more than Switch, far less than the text after it
	code := asm.Text(entry, room)
	var insts []inst
	var listing strings.Builder
	off := 0
	for {
		in, err := decode(code[off:])
		if err != nil {
			t.Fatalf("decoding at %#x: %v\n%s", entry+uintptr(off), err, &listing)
		}
		insts = append(insts, in)
		listing.WriteString("\t" + in.text + "\n")
		off += in.size
		if in.flow || len(insts) > 2*switchInsts {
			break
		}
	}
	t.Logf("Switch at %#x:\n%s", entry, &listing)

	if len(insts) != switchInsts {
		t.Errorf("Switch has %d instructions up to its first control transfer, want %d", len(insts), switchInsts)
	}
	if last := insts[len(insts)-1]; !last.indirect {
		t.Errorf("Switch ends in %q, want an indirect jump", last.text)
	}

	// What follows the jump must be padding up to the next function, so
	// that the jump is the last instruction of Switch.
	next := entry + uintptr(off)
	for off < room && runtime.FuncForPC(entry+uintptr(off)).Entry() == entry {
		in, err := decode(code[off:])
		if err != nil || !in.pad {
			t.Errorf("instruction after the final jump, at %#x: %q", entry+uintptr(off), in.text)
			break
		}
		off += in.size
	}
	if off >= room {
		t.Errorf("no function starts within %d bytes of Switch (padding from %#x)", room, next)
	}
}
