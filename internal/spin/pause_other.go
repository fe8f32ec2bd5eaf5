//go:build !amd64 && !arm64

package spin

// Pause paces a spin-wait loop by n iterations of a loop the compiler
// cannot remove; this architecture has no hint wired up here.
func Pause(n uint32) {
	for i := uint32(0); i < n; i++ {
		sink++
	}
}

var sink uint32
