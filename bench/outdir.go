package main

// Where the study writes. A plain run must not rewrite tracked files: its
// JSON and plots go to out/, which git ignores. Only the regeneration of
// the committed page, -md (RESULTS.md shows the plots of results/), or an
// explicit -out results, writes to the tracked results/ directory.
const (
	defaultOut = "out"     // untracked (bench/.gitignore)
	trackedOut = "results" // latest.json and the plots RESULTS.md shows
)

// outputDir returns the directory for results and plots, relative to
// bench/: out as given with -out, else trackedOut when md (-md) is set,
// else defaultOut.
func outputDir(out, md string) string {
	switch {
	case out != "":
		return out
	case md != "":
		return trackedOut
	}
	return defaultOut
}
