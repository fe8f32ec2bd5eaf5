//go:build !linux

package main

import (
	"fmt"
	"os"
	"runtime"
)

// pairs runs the study's Linux servers and load generator (see main.go);
// elsewhere it compiles and says why it does nothing.
func main() {
	fmt.Fprintf(os.Stderr, "pairs runs on Linux only, as the study does; this is %s/%s\n", runtime.GOOS, runtime.GOARCH)
	os.Exit(2)
}
