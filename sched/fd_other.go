//go:build !linux && !darwin && !dragonfly && !freebsd && !netbsd && !openbsd

package sched

import "errors"

// Descriptors are not supported here (see poll_other.go); errAgain only
// needs to be an error no call returns.
var errAgain = errors.New("sched: no descriptors on this system")

func readFD(fd int, p []byte) (int, error)  { return 0, errors.ErrUnsupported }
func writeFD(fd int, p []byte) (int, error) { return 0, errors.ErrUnsupported }
func closeFD(fd int) error                  { return errors.ErrUnsupported }
