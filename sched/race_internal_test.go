//go:build race

package sched

// raceOn reports a -race build, for the internal tests.
const raceOn = true
