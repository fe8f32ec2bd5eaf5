// Package farm holds the multi-host test of the examples (farm_linux_test.go):
// three hosts of examples/http behind a real front end — HAProxy, then
// examples/proxy — in network namespaces the test creates and removes,
// under wrk. It has no code of its own; the README's "Past one machine"
// shows the topology and the front ends' configurations.
//
// Run it as root on Linux (elsewhere, or without root, it skips and says
// why); -farm.long keeps each scenario under load for 20 s:
//
//	go test ./examples/farm -v [-args -farm.long]
package farm
