// Package spin is the busy-wait hint that coop's spin-then-park waits use
// between two looks at a shared word: PAUSE on amd64, YIELD on arm64, the
// instructions the Go runtime's own procyield issues.
//
// A waiting loop that only reloads a word another core will write is the
// cheapest way to see that write, but without the hint it floods the core
// with speculative loads: the store that ends the wait then flushes the
// pipeline (a memory-order machine clear on x86), and a hyper-thread
// sibling gets fewer cycles meanwhile. The hint slows each iteration to
// tens of cycles and avoids both.
package spin
