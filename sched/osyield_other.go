//go:build !linux

package sched

// osYield is sched_yield on Linux; elsewhere a spin does without.
func osYield() {}
