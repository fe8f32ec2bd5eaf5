package exampletest

import "syscall"

// dieWithParent makes the server die with the test process, even if the
// test is killed before its cleanup runs.
func dieWithParent() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
