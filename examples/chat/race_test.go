//go:build race

package main

// raceEnabled says the test (and, built by exampletest, the server) runs
// under the race detector, whose shadow memory the memory bounds allow
// for.
const raceEnabled = true
