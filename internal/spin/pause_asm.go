//go:build amd64 || arm64

package spin

// Pause issues the CPU's spin-wait hint n times: PAUSE on amd64 (about 40
// cycles on Skylake and later, 10 before), YIELD on arm64. It is
// implemented in pause_amd64.s and pause_arm64.s.
func Pause(n uint32)
