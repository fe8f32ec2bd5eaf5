//go:build linux && !race

package harness_test

const raceEnabled = false
