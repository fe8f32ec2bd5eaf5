package loadgen

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
	"github.com/coopgo/coop/bench/internal/rawsys"
)

// Role is the child role of the load generator process.
const Role = "loadgen"

// Lines the load generator process prints on stdout.
const (
	HoldingLine  = "HOLDING" // idle mode: every connection is up; send ReleaseLine on stdin to finish
	ReleaseLine  = "RELEASE" // sent by the harness
	ResultPrefix = "RESULT " // followed by the Result as JSON
)

func init() {
	child.Register(Role, main)
}

// Args are the arguments of the load generator role.
func Args(cfg Config, cpu int) ([]string, error) {
	b, err := json.Marshal(cfg)
	if err != nil {
		return nil, err
	}
	return []string{"-cpu", fmt.Sprint(cpu), "-config", string(b)}, nil
}

func main(args []string) error {
	fs := flag.NewFlagSet(Role, flag.ContinueOnError)
	cpu := fs.Int("cpu", -1, "CPU to pin the client to; -1: none")
	conf := fs.String("config", "", "Config as JSON")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var cfg Config
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
		fmt.Println(HoldingLine)
		line := make(chan error, 1)
		go func() {
			s, err := bufio.NewReader(os.Stdin).ReadString('\n')
			switch {
			case err == io.EOF:
				line <- fmt.Errorf("stdin closed while holding idle connections")
			case err != nil:
				line <- err
			case strings.TrimSpace(s) != ReleaseLine:
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
	res, err := Run(cfg, hold)
	if err != nil {
		return err
	}
	b, err := json.Marshal(res)
	if err != nil {
		return err
	}
	fmt.Printf("%s%s\n", ResultPrefix, b)
	return nil
}
