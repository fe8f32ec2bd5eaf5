//go:build linux

// Package report turns a run of the study into text tables, JSON, plots and
// the RESULTS.md page. Everything is rendered from a Run, so that the tables
// and plots of any saved JSON file can be regenerated without measuring
// again.
package report

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/coopgo/coop/bench/internal/clients"
	"github.com/coopgo/coop/bench/internal/harness"
	"github.com/coopgo/coop/bench/internal/irc"
	"github.com/coopgo/coop/bench/internal/ladder"
	"github.com/coopgo/coop/bench/internal/rawsys"
	"github.com/coopgo/coop/bench/internal/spawn"
)

// Run is one run of the study, as saved in results/*.json.
type Run struct {
	Started time.Time      `json:"started"`
	Elapsed time.Duration  `json:"elapsed_ns"`
	Mode    string         `json:"mode"` // quick, full, smoke
	Command string         `json:"command"`
	Machine rawsys.Machine `json:"machine"`
	Pinning string         `json:"pinning"`
	// The 1-minute load average when the run started and ended: other
	// work on the machine skews every row.
	LoadStart string `json:"load_start,omitempty"`
	LoadEnd   string `json:"load_end,omitempty"`
	Ticks     string `json:"ticks"`
	// NullSyscall is the machine's null system call, measured at the start
	// of every run (the ladder's row, in a process of its own): the floor
	// under every server's cost per request.
	NullSyscall *ladder.Result        `json:"null_syscall,omitempty"`
	Plan        harness.Plan          `json:"plan"`
	Ladder      []ladder.Result       `json:"ladder"`
	Spawn       []spawn.SpawnResult   `json:"spawn"`
	Memory      []spawn.MemResult     `json:"suspended_memory"`
	Models      []harness.ModelResult `json:"models"`
	// The real clients part (package clients): its plan and rows.
	ClientPlan *clients.Plan    `json:"client_plan,omitempty"`
	Clients    []clients.Result `json:"clients,omitempty"`
	// The front-end part (clients.RunFront): its plan and rows.
	FrontPlan *clients.Plan    `json:"front_plan,omitempty"`
	Front     []clients.Result `json:"front,omitempty"`
	Notes     []string         `json:"notes,omitempty"`

	// The IRC part (package irc): its plan and a result per server.
	IRCPlan *irc.Plan    `json:"irc_plan,omitempty"`
	IRC     []irc.Result `json:"irc,omitempty"`

	// The shared-state part (clients.RunShared): its plan and rows.
	SharedPlan *clients.Plan    `json:"shared_plan,omitempty"`
	Shared     []clients.Result `json:"shared,omitempty"`

	// The reload part (clients.RunReload): its plan and a row per server.
	ReloadPlan *clients.ReloadPlan    `json:"reload_plan,omitempty"`
	Reload     []clients.ReloadResult `json:"reload,omitempty"`
}

// Save writes the run to dir as run-<time>.json and latest.json.
func Save(r *Run, dir string) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return "", err
	}
	name := filepath.Join(dir, "run-"+r.Started.UTC().Format("20060102T150405Z")+".json")
	if err := os.WriteFile(name, b, 0o644); err != nil {
		return "", err
	}
	return name, os.WriteFile(filepath.Join(dir, "latest.json"), b, 0o644)
}

// Load reads a saved run.
func Load(path string) (*Run, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	r := new(Run)
	if err := json.Unmarshal(b, r); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return r, nil
}

// table is a list of rows of cells; the first row is the header. Columns
// whose header starts with '>' are right-aligned (the '>' is not printed).
type table struct {
	title string
	rows  [][]string
	notes []string
	// intro, if set, is a section heading and paragraphs printed before
	// the table in markdown only.
	intro []string
}

func (t *table) add(cells ...string) { t.rows = append(t.rows, cells) }

// text writes the table aligned for a terminal.
func (t *table) text(w io.Writer) {
	fmt.Fprintf(w, "\n== %s ==\n", t.title)
	width := map[int]int{}
	right := map[int]bool{}
	for i, c := range t.rows[0] {
		if strings.HasPrefix(c, ">") {
			right[i] = true
			t.rows[0][i] = c[1:]
		}
	}
	for _, r := range t.rows {
		if len(r) == 2 && strings.HasPrefix(r[1], "skipped:") || len(r) == 2 && strings.HasPrefix(r[1], "error:") {
			continue // a whole-row message does not set column widths
		}
		for i, c := range r {
			width[i] = max(width[i], len([]rune(c)))
		}
	}
	for _, r := range t.rows {
		var b strings.Builder
		for i, c := range r {
			pad := width[i] - len([]rune(c))
			if i > 0 {
				b.WriteString("  ")
			}
			if len(r) == 2 && i == 1 && (strings.HasPrefix(c, "skipped:") || strings.HasPrefix(c, "error:")) {
				b.WriteString(c)
				continue
			}
			if right[i] {
				b.WriteString(strings.Repeat(" ", max(pad, 0)) + c)
			} else if i < len(r)-1 {
				b.WriteString(c + strings.Repeat(" ", max(pad, 0)))
			} else {
				b.WriteString(c)
			}
		}
		fmt.Fprintln(w, strings.TrimRight(b.String(), " "))
	}
	for _, n := range t.notes {
		fmt.Fprintln(w, "  "+n)
	}
}

// markdown writes the table as GitHub markdown.
func (t *table) markdown(w io.Writer) {
	for _, l := range t.intro {
		fmt.Fprintf(w, "\n%s\n", l)
	}
	fmt.Fprintf(w, "\n### %s\n\n", t.title)
	cols := len(t.rows[0])
	for i, r := range t.rows {
		cells := make([]string, cols)
		copy(cells, r)
		for j := range cells {
			cells[j] = strings.TrimPrefix(strings.ReplaceAll(cells[j], "|", "\\|"), ">")
		}
		fmt.Fprintln(w, "| "+strings.Join(cells, " | ")+" |")
		if i == 0 {
			seps := make([]string, cols)
			for j, c := range r {
				if strings.HasPrefix(c, ">") || j > 0 && strings.HasPrefix(t.rows[0][j], ">") {
					seps[j] = "---:"
				} else {
					seps[j] = "---"
				}
			}
			fmt.Fprintln(w, "|"+strings.Join(seps, "|")+"|")
		}
	}
	if len(t.notes) > 0 {
		fmt.Fprintln(w)
		for _, n := range t.notes {
			fmt.Fprintln(w, "- "+n)
		}
	}
}

// num formats a value with a precision that suits its size.
func num(v float64) string {
	a := v
	if a < 0 {
		a = -a
	}
	switch {
	case a == 0:
		return "0"
	case a < 1:
		return fmt.Sprintf("%.2f", v)
	case a < 10:
		return fmt.Sprintf("%.2f", v)
	case a < 100:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.0f", v)
	}
}

// stat formats "median (min–max)".
func stat(s harness.Stat) string {
	if s.N == 0 {
		return "-"
	}
	return fmt.Sprintf("%s (%s–%s)", num(s.Median), num(s.Min), num(s.Max))
}

func lstat(s ladder.Stat) string {
	return fmt.Sprintf("%s (%s–%s)", num(s.Median), num(s.Min), num(s.Max))
}

func pct(s harness.Stat) string {
	if s.N == 0 {
		return "-"
	}
	return fmt.Sprintf("%.0f%%", 100*s.Median)
}

func us(d time.Duration) string { return num(float64(d) / 1e3) }

func kib(b float64) string { return num(b / 1024) }
