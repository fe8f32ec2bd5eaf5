//go:build !unix

package asm

import (
	"errors"
	"fmt"
	"runtime"
)

const stacksSupported = false

func mapStack(n, guard int) ([]byte, error) {
	return nil, fmt.Errorf("asm: stacks on %s: %w", runtime.GOOS, errors.ErrUnsupported)
}

func unmapStack(mem []byte) error {
	return fmt.Errorf("asm: stacks on %s: %w", runtime.GOOS, errors.ErrUnsupported)
}
