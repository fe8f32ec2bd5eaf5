//go:build !unix

package sched

import (
	"errors"
	"syscall"
)

var errAgain error = syscall.Errno(0xb)

func readFD(fd int, p []byte) (int, error)  { return 0, errors.ErrUnsupported }
func writeFD(fd int, p []byte) (int, error) { return 0, errors.ErrUnsupported }
func closeFD(fd int) error                  { return errors.ErrUnsupported }
