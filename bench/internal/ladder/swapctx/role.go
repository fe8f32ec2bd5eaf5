//go:build linux

package swapctx

import (
	"fmt"
	"strconv"

	"github.com/coopgo/coop/bench/internal/child"
)

func init() {
	child.Register(CountRole, func(args []string) error {
		if len(args) != 1 {
			return fmt.Errorf("want one argument: round trips")
		}
		k, err := strconv.Atoi(args[0])
		if err != nil {
			return err
		}
		if k == 0 {
			return nil // the baseline: the process's own rt_sigprocmask calls
		}
		_, err = PingPong(k)
		return err
	})
}
