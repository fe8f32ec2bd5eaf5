package main

import (
	"os/exec"
	"path/filepath"
	"testing"
)

// TestDefaultOutputIsUntracked: a plain run of the study writes where git
// ignores it, and only -md (regenerating RESULTS.md) or an explicit -out
// picks the tracked results/ directory.
func TestDefaultOutputIsUntracked(t *testing.T) {
	cases := []struct {
		out, md string
		want    string
		ignored bool
	}{
		{"", "", defaultOut, true},
		{"", "RESULTS.md", trackedOut, false},
		{trackedOut, "", trackedOut, false},
		{"/tmp/elsewhere", "RESULTS.md", "/tmp/elsewhere", false},
	}
	for _, c := range cases {
		if got := outputDir(c.out, c.md); got != c.want {
			t.Errorf("outputDir(%q, %q) = %q, want %q", c.out, c.md, got, c.want)
		}
	}
	git, err := exec.LookPath("git")
	if err != nil {
		t.Skip("no git to ask what it ignores:", err)
	}
	if err := exec.Command(git, "rev-parse", "--git-dir").Run(); err != nil {
		t.Skip("not in a git checkout:", err)
	}
	for _, c := range cases[:2] {
		// check-ignore exits 0 for an ignored path, 1 for one that is not.
		f := filepath.Join(outputDir(c.out, c.md), "latest.json")
		err := exec.Command(git, "check-ignore", "-q", "--no-index", f).Run()
		if ignored := err == nil; ignored != c.ignored {
			t.Errorf("git check-ignore %s: ignored = %v (%v), want %v", f, ignored, err, c.ignored)
		}
	}
}
