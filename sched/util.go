package sched

import (
	"os"
	"reflect"
	"runtime"
)

// errTimeout is what a wait with a timeout returns when it expires.
var errTimeout = os.ErrDeadlineExceeded

// wrapSyscall wraps a failed system call's errno as os.SyscallError, the
// middle layer of the standard library's errors.
func wrapSyscall(name string, err error) error {
	if err == nil {
		return nil
	}
	return os.NewSyscallError(name, err)
}

// funcName names a function for Dump and reports.
func funcName(fn any) string {
	if f := runtime.FuncForPC(reflect.ValueOf(fn).Pointer()); f != nil {
		return f.Name()
	}
	return "?"
}

func goschedNoTask() { runtime.Gosched() }
