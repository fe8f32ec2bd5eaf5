package main

import (
	"fmt"
	"io"
	"os"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// progress reports the study's steps on stderr: a progress bar on a
// terminal, one line per step elsewhere (CI logs), so that carriage-return
// redraws never end up in a log file.
type progress struct {
	bar   *progressbar.ProgressBar
	w     io.Writer
	total int
	done  int
	start time.Time
}

func newProgress(total int) *progress {
	p := &progress{w: os.Stderr, total: total, start: time.Now()}
	if term.IsTerminal(int(os.Stderr.Fd())) {
		p.bar = progressbar.NewOptions(total,
			progressbar.OptionSetWriter(os.Stderr),
			progressbar.OptionSetWidth(30),
			progressbar.OptionShowCount(),
			progressbar.OptionSetElapsedTime(true),
			progressbar.OptionSetPredictTime(false),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionClearOnFinish(),
		)
	}
	return p
}

// doing names the step in progress.
func (p *progress) doing(what string) {
	if p.bar != nil {
		p.bar.Describe(fmt.Sprintf("%-40.40s", what))
	}
}

// step records a finished step.
func (p *progress) step(what string) {
	p.done++
	if p.bar != nil {
		p.bar.Describe(fmt.Sprintf("%-40.40s", what))
		p.bar.Add(1)
		return
	}
	fmt.Fprintf(p.w, "[%3d/%d %5.1fs] %s\n", p.done, p.total, time.Since(p.start).Seconds(), what)
}

func (p *progress) finish() {
	if p.bar != nil {
		p.bar.Finish()
	}
}
