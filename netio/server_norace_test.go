//go:build !race

package netio_test

const (
	churnConns = 10000 // TestServerChurnLeaks
	stormConns = 2000  // TestServerStorm
	idleConns  = 10000 // TestServerReadyIdleConns
)
