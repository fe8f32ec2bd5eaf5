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
	cmd, err := child.Command(Role, true, []string{"GOMAXPROCS=1"}, "-cpu", fmt.Sprint(cpu), "-config", string(b))
	if err != nil {
		return res, err
	}
	errs := new(harness.Tail)
	cmd.Stderr = errs
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return res, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return res, err
	}
	if err := child.Start(cmd); err != nil {
		return res, fmt.Errorf("start the IRC load generator: %w", err)
	}
	defer child.Forget(cmd)
	limit := cfg.Warmup + time.Duration(cfg.Intervals)*cfg.Interval + 4*time.Minute
	timer := time.AfterFunc(limit, func() { child.Kill(cmd) })
	defer timer.Stop()
	var result []byte
	var holdErr error
	sc := bufio.NewScanner(out)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == loadgen.HoldingLine:
			if hold != nil {
				holdErr = hold()
			}
			if _, err := io.WriteString(stdin, loadgen.ReleaseLine+"\n"); err != nil && holdErr == nil {
				holdErr = err
			}
		case strings.HasPrefix(line, loadgen.ResultPrefix):
			result = []byte(strings.TrimPrefix(line, loadgen.ResultPrefix))
		}
	}
	stdin.Close()
	werr := cmd.Wait()
	switch {
	case holdErr != nil:
		return res, holdErr
	case werr != nil:
		return res, fmt.Errorf("IRC load generator: %v: %s", werr, errs)
	case result == nil:
		return res, fmt.Errorf("IRC load generator printed no result: %s", errs)
	}
	if err := json.Unmarshal(result, &res); err != nil {
		return res, fmt.Errorf("IRC load generator result: %w", err)
	}
	return res, nil
}
