package main

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/coopgo/coop/examples/internal/exampletest"
)

var bin string

func TestMain(m *testing.M) { exampletest.Main(m, map[string]*string{".": &bin}) }

func mustRead(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestCommand runs the binary on the corpus with every -impl, from a file
// and from standard input, and compares with the golden output.
func TestCommand(t *testing.T) {
	want := mustRead(t, "testdata/corpus.golden")
	src := mustRead(t, "testdata/corpus.calc")
	for _, impl := range pipelineNames {
		t.Run(impl, func(t *testing.T) {
			got := exampletest.Run(t, 10*time.Second, bin, "-impl", impl, "testdata/corpus.calc")
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("file: output mismatch (-want +got):\n%s", diff)
			}
			got, err := exampletest.RunErr(10*time.Second, []byte(src), bin, "-impl", impl)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("stdin: output mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// TestCommandBadFlag checks that an unknown -impl is a usage error.
func TestCommandBadFlag(t *testing.T) {
	out, err := exampletest.RunErr(10*time.Second, nil, bin, "-impl", "threads")
	if err == nil || !strings.Contains(out, `unknown -impl "threads"`) {
		t.Errorf("got err %v, output:\n%s", err, out)
	}
}

// TestPipelinesAgree checks that every pipeline prints exactly what the
// state machine prints, on the corpus and on random programs.
func TestPipelinesAgree(t *testing.T) {
	srcs := []string{mustRead(t, "testdata/corpus.calc"), "", "\n", "let", "(", "1"}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 300 {
		srcs = append(srcs, randomProgram(rng, 20), randomBytes(rng, 200))
	}
	for _, src := range srcs {
		checkAgree(t, src)
	}
}

func checkAgree(t *testing.T, src string) {
	t.Helper()
	want := evalState(src)
	for _, name := range pipelineNames {
		if got := pipelines[name](src); !bytes.Equal(got, want) {
			t.Fatalf("%s differs from state on %q (-state +%s):\n%s", name, src, name, cmp.Diff(string(want), string(got)))
		}
	}
}

// TestDeepNesting checks that hostile nesting is an error, not a stack
// that grows without bound.
func TestDeepNesting(t *testing.T) {
	src := strings.Repeat("(", 100000) + "1" + strings.Repeat(")", 100000) + "\n" +
		strings.Repeat("-", 100000) + "1\n2\n"
	want := "line 1: expression nested too deeply\nline 2: expression nested too deeply\n2\n"
	for _, name := range pipelineNames {
		if got := string(pipelines[name](src)); got != want {
			t.Errorf("%s: got %q, want %q", name, got, want)
		}
	}
}

// TestNoLeftovers checks that no pipeline leaves a goroutine behind,
// not even contexts, whose lexer is still suspended in its emit when the
// parser returns and is unwound by the end of ucontext.Run.
func TestNoLeftovers(t *testing.T) {
	src := mustRead(t, "testdata/corpus.calc")
	before := runtime.NumGoroutine()
	for range 50 {
		for _, name := range pipelineNames {
			pipelines[name](src)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		t.Errorf("%d goroutines before, %d after", before, n)
	}
}

// FuzzPipelines checks that the pipelines agree on any input:
// go test -fuzz FuzzPipelines ./examples/generator
func FuzzPipelines(f *testing.F) {
	for _, line := range strings.Split(mustRead(f, "testdata/corpus.calc"), "\n") {
		f.Add(line)
	}
	f.Fuzz(func(t *testing.T, src string) { checkAgree(t, src) })
}

// randomProgram returns n random statements, mostly well formed.
func randomProgram(rng *rand.Rand, n int) string {
	var b strings.Builder
	for range n {
		if rng.IntN(3) == 0 {
			fmt.Fprintf(&b, "let v%d = ", rng.IntN(5))
		}
		randomExpr(rng, &b, 4)
		b.WriteString([]string{"\n", ";", " # c\n"}[rng.IntN(3)])
	}
	return b.String()
}

func randomExpr(rng *rand.Rand, b *strings.Builder, depth int) {
	switch k := rng.IntN(6); {
	case depth == 0 || k == 0:
		fmt.Fprint(b, []int64{0, 1, 7, 1 << 62, 9223372036854775807}[rng.IntN(5)])
	case k == 1:
		fmt.Fprintf(b, "v%d", rng.IntN(5))
	case k == 2:
		b.WriteString("-")
		randomExpr(rng, b, depth-1)
	case k == 3:
		b.WriteString("(")
		randomExpr(rng, b, depth-1)
		b.WriteString(")")
	default:
		randomExpr(rng, b, depth-1)
		b.WriteString([]string{" + ", "-", " * ", "/", " % "}[rng.IntN(5)])
		randomExpr(rng, b, depth-1)
	}
}

// randomBytes returns up to n bytes drawn mostly from the language's own
// characters.
func randomBytes(rng *rand.Rand, n int) string {
	const alphabet = "0123456789 abxlet=+-*/%()\n;#\t$\xff"
	b := make([]byte, rng.IntN(n))
	for i := range b {
		b[i] = alphabet[rng.IntN(len(alphabet))]
	}
	return string(b)
}

// benchProgram is a program of about 30,000 statements, 600,000 tokens.
func benchProgram() (src string, tokens int) {
	var b strings.Builder
	for i := range 16 {
		fmt.Fprintf(&b, "let v%d = %d\n", i, i)
	}
	for i := range 30000 {
		fmt.Fprintf(&b, "let v%d = (v%d + %d) %% 1000 * 3 - v%d %% 7 + -(%d / 3)\n", i%16, (i+1)%16, i, (i+5)%16, i)
	}
	src = b.String()
	newLexer(src, func(token) bool { tokens++; return true }).run()
	return src, tokens
}

// BenchmarkPipeline evaluates one program with each pipeline and reports
// the cost per token, in wall time and in the process's CPU time (which
// includes the garbage collector's and, for chan, both goroutines'). The
// state pipeline is the baseline without any switch; the difference from
// it is what moving a token costs.
func BenchmarkPipeline(b *testing.B) {
	src, tokens := benchProgram()
	want := evalState(src)
	for _, name := range pipelineNames {
		b.Run(name, func(b *testing.B) {
			if bytes.Contains(want, []byte("line ")) {
				b.Fatal("the benchmark program has errors")
			}
			eval := pipelines[name]
			if got := eval(src); !bytes.Equal(got, want) {
				b.Fatalf("%s: wrong output", name)
			}
			b.ReportAllocs()
			b.SetBytes(int64(len(src)))
			cpu0 := processCPU()
			for b.Loop() {
				eval(src)
			}
			n := float64(b.N * tokens)
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/n, "ns/token")
			if cpu := processCPU() - cpu0; cpu > 0 {
				b.ReportMetric(float64(cpu.Nanoseconds())/n, "cpu-ns/token")
			}
		})
	}
}
