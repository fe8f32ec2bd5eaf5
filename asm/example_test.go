//go:build (amd64 || arm64) && unix

package asm_test

import (
	"fmt"

	"github.com/coopgo/coop/asm"
)

func ExamplePingPong() {
	p, err := asm.NewPingPong()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer p.Close()

	// Five switches: first to second, back, and so on; then back here.
	if err := p.Run(5); err != nil {
		fmt.Println(err)
		return
	}
	a, b := p.Sent()
	fmt.Println("first sent", a, "second sent", b)
	// Output: first sent 3 second sent 2
}

func ExampleRegs_Prepare() {
	s, err := asm.NewStack(4096)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Free()

	// Regs handed to Prepare must stay put and reachable: allocate them.
	host, ctx := new(asm.Regs), new(asm.Regs)
	if err := ctx.Prepare(s, asm.Bounce(host)); err != nil {
		fmt.Println(err)
		return
	}
	for range 3 {
		// Enters (then resumes) Bounce on s, which switches straight back.
		asm.Switch(host, ctx)
	}
	fmt.Println("back on the goroutine")
	// Output: back on the goroutine
}
