package farm

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

var httpBin, proxyBin string

// TestMain builds examples/http and examples/proxy once for the test.
// Unlike exampletest.Build, never with -race: the examples' own tests run
// them race-built; here the detector would only slow the hosts under
// load, and the restarts with them.
func TestMain(m *testing.M) {
	os.Exit(func() int {
		dir, err := os.MkdirTemp("", "coop-farm-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(dir)
		for pkg, bin := range map[string]*string{"../http": &httpBin, "../proxy": &proxyBin} {
			*bin = filepath.Join(dir, filepath.Base(pkg))
			cmd := exec.Command("go", "build", "-o", *bin, pkg)
			cmd.Stderr = os.Stderr
			if err := cmd.Run(); err != nil {
				fmt.Fprintf(os.Stderr, "go build %s: %v\n", pkg, err)
				return 1
			}
		}
		return m.Run()
	}())
}
