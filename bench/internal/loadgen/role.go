//go:build linux

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

// Lines the load generator process prints on stdout, and the commands the
// harness sends it on stdin.
//
// Idle mode: the client prints HoldingLine once every connection is up and
// waits for ReleaseLine, then checks every connection again, prints its
// result and exits.
//
// Session mode: the client prints ConnectedPrefix and its Result (set-up
// time, CPUs) once every connection is up and checked, then obeys one
// command a line: RunPrefix and a Config as JSON runs that measurement and
// prints ResultPrefix and its Result; CheckLine checks one more echo on
// every connection and prints CheckedLine; ReleaseLine (or the end of
// stdin) closes the connections and exits. A failure ends the process
// with the reason on stderr.
const (
	HoldingLine     = "HOLDING"    // idle mode: every connection is up
	ReleaseLine     = "RELEASE"    // sent by the harness
	ResultPrefix    = "RESULT "    // followed by the Result as JSON
	ConnectedPrefix = "CONNECTED " // session mode: followed by the Result of the set-up as JSON
	RunPrefix       = "RUN "       // session command: followed by a Config as JSON
	CheckLine       = "CHECK"      // session command
	CheckedLine     = "CHECKED"    // session: the check passed
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
	in := bufio.NewReader(os.Stdin)
	// readLine waits for the harness's next line, at most HoldTimeout;
	// io.EOF when stdin ends.
	readLine := func() (string, error) {
		line := make(chan string, 1)
		fail := make(chan error, 1)
		go func() {
			s, err := in.ReadString('\n')
			switch {
			case err == io.EOF && s == "":
				fail <- io.EOF
			case err != nil && err != io.EOF:
				fail <- err
			default:
				line <- strings.TrimSpace(s)
			}
		}()
		select {
		case s := <-line:
			return s, nil
		case err := <-fail:
			return "", err
		case <-time.After(cfg.HoldTimeout):
			return "", fmt.Errorf("no word from the harness for %v", cfg.HoldTimeout)
		}
	}
	if cfg.Mode == Session {
		return session(cfg, readLine)
	}
	hold := func() error {
		fmt.Println(HoldingLine)
		s, err := readLine()
		switch {
		case err == io.EOF:
			return fmt.Errorf("stdin closed while holding idle connections")
		case err != nil:
			return err
		case s != ReleaseLine:
			return fmt.Errorf("unexpected line %q while holding", s)
		}
		return nil
	}
	res, err := Run(cfg, hold)
	if err != nil {
		return err
	}
	return printJSON(ResultPrefix, res)
}

// session runs session mode: connect, then obey the harness's commands.
func session(cfg Config, readLine func() (string, error)) error {
	cl, err := Dial(cfg)
	if err != nil {
		return err
	}
	defer cl.Close()
	if err := printJSON(ConnectedPrefix, cl.Result()); err != nil {
		return err
	}
	for {
		line, err := readLine()
		if err != nil && err != io.EOF {
			return err
		}
		switch {
		case line == ReleaseLine || err == io.EOF: // EOF: the harness is gone
			return nil
		case line == CheckLine:
			if err := cl.Recheck(); err != nil {
				return err
			}
			fmt.Println(CheckedLine)
		case strings.HasPrefix(line, RunPrefix):
			var run Config
			if err := json.Unmarshal([]byte(strings.TrimPrefix(line, RunPrefix)), &run); err != nil {
				return fmt.Errorf("command %q: %w", line, err)
			}
			res, err := cl.Measure(run)
			if err != nil {
				return err
			}
			if err := printJSON(ResultPrefix, res); err != nil {
				return err
			}
		default:
			return fmt.Errorf("unknown command %q", line)
		}
	}
}

func printJSON(prefix string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = fmt.Printf("%s%s\n", prefix, b)
	return err
}
