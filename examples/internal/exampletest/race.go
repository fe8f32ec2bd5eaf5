//go:build race

package exampletest

// raceEnabled makes Build race-build the servers when the tests are.
const raceEnabled = true
