//go:build linux

package irc

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/coopgo/coop/bench/internal/child"
	"github.com/coopgo/coop/bench/internal/harness"
	"github.com/coopgo/coop/bench/internal/loadgen"
	"github.com/coopgo/coop/bench/internal/rawsys"
)

// Role is the child role of the IRC load generator process. It speaks
// the harness's protocol of package loadgen: HOLDING and RELEASE in idle
// mode, then RESULT and the result as JSON.
const Role = "ircload"

func init() {
	child.Register(Role, main)
}

func main(args []string) error {
	fs := flag.NewFlagSet(Role, flag.ContinueOnError)
	cpu := fs.Int("cpu", -1, "CPU to pin the client to; -1: none")
	conf := fs.String("config", "", "LoadConfig as JSON")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var cfg LoadConfig
	if err := json.Unmarshal([]byte(*conf), &cfg); err != nil {
		return fmt.Errorf("-config: %w", err)
	}
	cfg.defaults()
	if *cpu >= 0 {
		if err := rawsys.PinProcess(*cpu); err != nil {
			return err
		}
	}
	if _, err := rawsys.RaiseNoFile(); err != nil {
		return err
	}
	hold := func() error {
		fmt.Println(loadgen.HoldingLine)
		line := make(chan error, 1)
		go func() {
			s, err := bufio.NewReader(os.Stdin).ReadString('\n')
			switch {
			case err == io.EOF:
				line <- fmt.Errorf("stdin closed while holding idle clients")
			case err != nil:
				line <- err
			case strings.TrimSpace(s) != loadgen.ReleaseLine:
				line <- fmt.Errorf("unexpected line %q while holding", s)
			default:
				line <- nil
			}
		}()
		select {
		case err := <-line:
			return err
		case <-time.After(cfg.HoldTimeout):
			return fmt.Errorf("not released after %v", cfg.HoldTimeout)
		}
	}
	res, err := RunLoad(cfg, hold)
	if err != nil {
		return err
	}
	b, err := json.Marshal(res)
	if err != nil {
		return err
	}
	fmt.Printf("%s%s\n", loadgen.ResultPrefix, b)
	return nil
}

// runLoad runs the load generator in a process of its own pinned to cpu;
// in idle mode hold runs while the clients are held.
func runLoad(cfg LoadConfig, cpu int, hold func() error) (LoadResult, error) {
	var res LoadResult
	b, err := json.Marshal(cfg)
	if err != nil {
		return res, err
	}
	limit := cfg.Warmup + time.Duration(cfg.Intervals)*cfg.Interval + 4*time.Minute
	err = harness.RunLoadRole(Role, "IRC load generator", []string{"-cpu", fmt.Sprint(cpu), "-config", string(b)}, limit, hold, &res)
	return res, err
}
