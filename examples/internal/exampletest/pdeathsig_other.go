//go:build !linux

package exampletest

import "syscall"

func dieWithParent() *syscall.SysProcAttr { return nil }
