package asm_test

import (
	"testing"

	"github.com/coopgo/coop/asm"
)

// chunk is how many switches one PingPong.Run makes in the benchmarks: long
// enough to make the two switches in and out of Run negligible (2e-5 of the
// total), short enough (a fraction of a millisecond) not to hold up the
// garbage collector.
const chunk = 100_000

// BenchmarkRawSwitch measures one raw switch: one Switch call between two
// assembly contexts on their own stacks, saving SP, BP and PC of one and
// resuming the other. One op is one switch, so ns/op equals ns/switch.
func BenchmarkRawSwitch(b *testing.B) {
	skipUnsupported(b)
	p := mustPingPong(b)
	mustRun(b, p, chunk) // fault the stacks in, warm the predictors
	b.ResetTimer()
	t0 := asm.Ticks()
	for left := b.N; left > 0; left -= chunk {
		mustRun(b, p, min(left, chunk))
	}
	ticks := asm.Ticks() - t0
	b.StopTimer()
	reportPerSwitch(b, b.N, ticks)
}

// BenchmarkRawSwitchFromGo measures a round trip from Go code into a raw
// context and back: Switch from the goroutine to a context running Bounce,
// which switches straight back. One op is two switches, each paying for the
// ABI wrapper between Go and assembly on the goroutine side.
func BenchmarkRawSwitchFromGo(b *testing.B) {
	skipUnsupported(b)
	s := mustStack(b, 1)
	host, ctx := new(asm.Regs), new(asm.Regs)
	if err := ctx.Prepare(s, asm.Bounce(host)); err != nil {
		b.Fatal(err)
	}
	t0 := asm.Ticks()
	n := 0
	for b.Loop() {
		asm.Switch(host, ctx)
		n++
	}
	reportPerSwitch(b, 2*n, asm.Ticks()-t0)
}

// reportPerSwitch adds ns/switch and ticks/switch (Ticks at
// TicksPerSecond) to a benchmark's results.
func reportPerSwitch(b *testing.B, switches int, ticks uint64) {
	b.Helper()
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(switches), "ns/switch")
	b.ReportMetric(float64(ticks)/float64(switches), "ticks/switch")
}

var sinkTicks uint64

// BenchmarkTicks measures one reading of the tick counter, fence included.
func BenchmarkTicks(b *testing.B) {
	for b.Loop() {
		sinkTicks = asm.Ticks()
	}
}

var sinkG uintptr

// BenchmarkG measures one goroutine identity lookup.
func BenchmarkG(b *testing.B) {
	for b.Loop() {
		sinkG = asm.G()
	}
}
