//go:build linux

package ladder

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/coopgo/coop/asm"
	"github.com/coopgo/coop/bench/internal/child"
	"github.com/coopgo/coop/bench/internal/rawsys"
)

const rowRole = "ladder-row"

func init() { child.Register(rowRole, rowMain) }

// Stat is a median and range.
type Stat struct {
	Median float64 `json:"median"`
	Min    float64 `json:"min"`
	Max    float64 `json:"max"`
}

func statOf(xs []float64) Stat {
	s := slices.Clone(xs)
	slices.Sort(s)
	m := s[len(s)/2]
	if len(s)%2 == 0 {
		m = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return Stat{Median: m, Min: s[0], Max: s[len(s)-1]}
}

// Result is one measured row.
type Result struct {
	Name       string `json:"name"`
	What       string `json:"what"`
	CPUs       string `json:"cpus"` // affinity of the process that ran it
	GOMAXPROCS int    `json:"gomaxprocs"`
	N          int    `json:"switches_per_batch"`
	Batches    int    `json:"batches"`
	NS         Stat   `json:"ns_per_switch"`
	Ticks      Stat   `json:"ticks_per_switch"`
	Note       string `json:"note,omitempty"`
	Skipped    string `json:"skipped,omitempty"`
	Error      string `json:"error,omitempty"`
}

// TickSource says where the ticks column comes from.
func TickSource() string {
	return fmt.Sprintf("asm.Ticks, %.3f GHz (asm.TicksPerSecond)", asm.TicksPerSecond()/1e9)
}

// Measure runs row r in a child process: batches of switches lasting about
// target each, reps of them after calibration.
func Measure(r Row, target time.Duration, reps int) Result {
	res := Result{Name: r.Name, What: r.What, GOMAXPROCS: max(r.GOMAXPROCS, 1), Skipped: r.Skip}
	if r.Skip != "" {
		return res
	}
	cmd, err := child.Command(rowRole, true, []string{fmt.Sprintf("GOMAXPROCS=%d", res.GOMAXPROCS)}, r.Name, target.String(), strconv.Itoa(reps))
	if err != nil {
		res.Error = err.Error()
		return res
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := child.Start(cmd); err != nil {
		res.Error = err.Error()
		return res
	}
	// Cross-CPU rows at ~60 µs a switch still finish a batch in target;
	// this only catches a hang.
	timer := time.AfterFunc(time.Minute+time.Duration(reps+10)*target*4, func() { child.Kill(cmd) })
	err = cmd.Wait()
	timer.Stop()
	child.Forget(cmd)
	if err != nil {
		res.Error = fmt.Sprintf("%v: %s", err, strings.TrimSpace(errb.String()))
		return res
	}
	var cr childResult
	if err := json.Unmarshal(out.Bytes(), &cr); err != nil {
		res.Error = fmt.Sprintf("row output: %v", err)
		return res
	}
	res.CPUs, res.N, res.Batches = cr.CPUs, cr.N, len(cr.NS)
	res.NS, res.Ticks = statOf(cr.NS), statOf(cr.Ticks)
	if r.Probe != nil {
		note, err := r.Probe()
		if err != nil {
			note = "probe failed: " + err.Error()
		}
		res.Note = note
	}
	return res
}

type childResult struct {
	CPUs  string    `json:"cpus"`
	N     int       `json:"n"`
	NS    []float64 `json:"ns"`
	Ticks []float64 `json:"ticks"`
}

// rowMain runs in the row's process: pin, calibrate, time.
func rowMain(args []string) error {
	fs := flag.NewFlagSet(rowRole, flag.ContinueOnError)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 3 {
		return fmt.Errorf("want: row target reps")
	}
	r, ok := Lookup(fs.Arg(0))
	if !ok {
		return fmt.Errorf("no ladder row %q", fs.Arg(0))
	}
	target, err := time.ParseDuration(fs.Arg(1))
	if err != nil {
		return err
	}
	reps, err := strconv.Atoi(fs.Arg(2))
	if err != nil {
		return err
	}
	if r.CPUs != nil {
		if err := rawsys.PinProcess(r.CPUs...); err != nil {
			return err
		}
	}
	var cr childResult
	if cr.CPUs, err = rawsys.AllowedCPUs(os.Getpid()); err != nil {
		return err
	}
	var t Timer
	// Calibrate: grow n until a batch takes an eighth of the target, then
	// scale it to the target.
	n := 16
	for {
		if err := r.Run(n, &t); err != nil {
			return err
		}
		if t.NS() >= int64(target)/8 || n >= 1<<34 {
			break
		}
		n *= 4
	}
	// Even, so that a ping-pong row makes exactly n switches.
	n = max(2, int(float64(n)*float64(target)/float64(max(t.NS(), 1)))) &^ 1
	cr.N = n
	for range reps {
		if err := r.Run(n, &t); err != nil {
			return err
		}
		cr.NS = append(cr.NS, float64(t.NS())/float64(n))
		cr.Ticks = append(cr.Ticks, float64(t.Ticks())/float64(n))
	}
	runtime.KeepAlive(r)
	return json.NewEncoder(os.Stdout).Encode(cr)
}
