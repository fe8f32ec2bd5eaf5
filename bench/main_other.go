//go:build !linux

package main

import (
	"fmt"
	"os"
	"runtime"
)

// The study measures Linux itself: epoll servers, CPUs pinned with
// sched_setaffinity, CPU time and memory read from /proc, children tied to
// their parent with Pdeathsig. Elsewhere the module still compiles and vets
// (CI checks darwin and the BSDs), and the command says why it does nothing.
func main() {
	fmt.Fprintf(os.Stderr, "coop's study runs on Linux only: it measures epoll servers, pins CPUs with sched_setaffinity and reads /proc; this is %s/%s, run it on a Linux machine\n", runtime.GOOS, runtime.GOARCH)
	os.Exit(2)
}
