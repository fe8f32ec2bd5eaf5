//go:build race

package netio_test

// Under the race detector a switch costs ~6x more: fewer connections keep
// the package's tests fast.
const (
	churnConns = 2000
	stormConns = 1000
	idleConns  = 2000
)
