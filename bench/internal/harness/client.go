//go:build linux

package harness

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"time"

	"github.com/coopgo/coop/bench/internal/child"
	"github.com/coopgo/coop/bench/internal/loadgen"
)

// Client is a load generator process in session mode, pinned to ClientCPU:
// its connections stay up, checked, between the measurements it is asked
// for, so that one set-up serves a memory reading and several rows (at
// 10,000 connections the set-up costs more than a row).
type Client struct {
	// Setup is what the set-up reported: its time, the client's CPUs, the
	// source addresses used.
	Setup loadgen.Result

	cfg   loadgen.Config
	cmd   *exec.Cmd
	stdin io.WriteCloser
	lines chan string // the client's stdout, line by line; closed when it ends
	errs  *Tail
}

// StartClient starts a session-mode load generator for cfg (its Mode is
// set to loadgen.Session) and returns once every connection is up and
// checked with one echo.
func StartClient(cfg loadgen.Config) (*Client, error) {
	cfg.Mode = loadgen.Session
	if cfg.HoldTimeout == 0 {
		// Between two measurements the client waits for the other
		// models' rows: minutes in -full at the largest counts.
		cfg.HoldTimeout = time.Hour
	}
	args, err := loadgen.Args(cfg, ClientCPU)
	if err != nil {
		return nil, err
	}
	cmd, err := child.Command(loadgen.Role, true, []string{"GOMAXPROCS=1"}, args...)
	if err != nil {
		return nil, err
	}
	c := &Client{cfg: cfg, cmd: cmd, errs: new(Tail), lines: make(chan string, 4)}
	cmd.Stderr = c.errs
	if c.stdin, err = cmd.StdinPipe(); err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := child.Start(cmd); err != nil {
		return nil, fmt.Errorf("start load generator: %w", err)
	}
	go func() {
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 1<<20), 16<<20)
		for sc.Scan() {
			c.lines <- sc.Text()
		}
		io.Copy(io.Discard, out)
		close(c.lines)
	}()
	connect := 30*time.Second + time.Duration(cfg.Conns)*10*time.Millisecond
	line, err := c.await(loadgen.ConnectedPrefix, connect, fmt.Sprintf("connecting %d connections", cfg.Conns))
	if err == nil {
		err = json.Unmarshal([]byte(line), &c.Setup)
	}
	if err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// await waits at most limit for the client's next line, which must start
// with prefix, and returns the rest of it.
func (c *Client) await(prefix string, limit time.Duration, what string) (string, error) {
	timer := time.NewTimer(limit)
	defer timer.Stop()
	select {
	case line, ok := <-c.lines:
		if !ok {
			err := c.cmd.Wait()
			child.Forget(c.cmd)
			return "", fmt.Errorf("load generator: %s: exited (%v): %s", what, err, c.errs)
		}
		if rest, found := strings.CutPrefix(line, prefix); found {
			return rest, nil
		}
		return "", fmt.Errorf("load generator: %s: unexpected line %q", what, line)
	case <-timer.C:
		child.Kill(c.cmd)
		return "", fmt.Errorf("load generator: %s: no answer after %v: %s", what, limit, c.errs)
	}
}

func (c *Client) send(line string) error {
	if _, err := io.WriteString(c.stdin, line+"\n"); err != nil {
		return fmt.Errorf("load generator: %w: %s", err, c.errs)
	}
	return nil
}

// Measure runs one measurement on the client's connections: run's Mode,
// Rate, Warmup, Interval and Intervals. ServerPIDs come from the set-up's
// configuration.
func (c *Client) Measure(run loadgen.Config) (loadgen.Result, error) {
	var res loadgen.Result
	b, err := json.Marshal(run)
	if err != nil {
		return res, err
	}
	if err := c.send(loadgen.RunPrefix + string(b)); err != nil {
		return res, err
	}
	// The client bounds its own run (stall and drain limits); this is the
	// backstop if it hangs.
	limit := run.Warmup + time.Duration(run.Intervals)*run.Interval + 3*time.Minute
	line, err := c.await(loadgen.ResultPrefix, limit, fmt.Sprintf("%s run over %d connections", run.Mode, c.cfg.Conns))
	if err != nil {
		return res, err
	}
	if err := json.Unmarshal([]byte(line), &res); err != nil {
		return res, fmt.Errorf("load generator result: %w", err)
	}
	return res, nil
}

// Check sends one more request on every connection and checks its reply.
func (c *Client) Check() error {
	if err := c.send(loadgen.CheckLine); err != nil {
		return err
	}
	_, err := c.await(loadgen.CheckedLine, 30*time.Second+time.Duration(c.cfg.Conns)*time.Millisecond, "second check")
	return err
}

// Close ends the client: its connections close with a reset. It waits for
// the process a while, then kills it.
func (c *Client) Close() {
	c.send(loadgen.ReleaseLine)
	c.stdin.Close()
	done := make(chan struct{})
	go func() {
		for range c.lines {
		}
		c.cmd.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		child.Kill(c.cmd)
		<-done
	}
	child.Forget(c.cmd)
}
