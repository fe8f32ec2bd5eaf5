package sched_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/coopgo/coop/sched"
)

// TestTaskNamesInReports: Dump and deadlock reports name the tasks that
// were given names; the others keep their number alone.
func TestTaskNamesInReports(t *testing.T) {
	s := sched.New(sched.WithName("names"))
	var c sched.Chan[int]
	var dump strings.Builder
	s.Go(func() {
		sched.SetName("conn 10.0.0.7:51234")
		if got := sched.Name(); got != "conn 10.0.0.7:51234" {
			t.Errorf("Name() = %q", got)
		}
		c.Recv()
	})
	s.Go(func() {
		sched.Yield()
		s.Dump(&dump)
		c.Recv()
	})
	err := s.Run()
	if !errors.Is(err, sched.ErrDeadlock) {
		t.Fatalf("Run: %v, want ErrDeadlock", err)
	}
	for what, text := range map[string]string{"Dump": dump.String(), "deadlock report": err.Error()} {
		if !strings.Contains(text, `task 1 "conn 10.0.0.7:51234": blocked on chan receive`) {
			t.Errorf("%s does not name task 1:\n%s", what, text)
		}
		if !strings.Contains(text, "task 2: ") {
			t.Errorf("%s lacks the unnamed task 2:\n%s", what, text)
		}
	}
	if sched.Name() != "" {
		t.Error("Name() outside a task is not empty")
	}
}

type localKey struct{}

// TestTaskLocalValues: each task sees its own values; a recycled Spawn
// task starts with none; outside a task Value is nil and SetValue panics.
func TestTaskLocalValues(t *testing.T) {
	s := sched.New()
	var got []any
	for i := range 3 {
		s.Spawn(func() {
			got = append(got, sched.Value(localKey{})) // nil: a fresh or recycled task
			sched.SetValue(localKey{}, i)
			sched.Yield() // the others set theirs meanwhile
			got = append(got, sched.Value(localKey{}))
			if i < 2 { // the last keeps its value: recycling must drop it
				sched.SetValue(localKey{}, nil)
				got = append(got, sched.Value(localKey{}))
			}
		})
	}
	s.Go(func() {
		sched.Yield()
		sched.Yield()
		s.Spawn(func() { got = append(got, sched.Value(localKey{}), sched.Name()) }) // reuses an ended task
	})
	mustRun(t, s)
	want := []any{nil, nil, nil, 0, nil, 1, nil, 2, nil, ""}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("values seen %v, want %v", got, want)
	}
	if v := sched.Value(localKey{}); v != nil {
		t.Errorf("Value outside a task = %v", v)
	}
	defer func() {
		if p := recover(); p == nil || !strings.Contains(fmt.Sprint(p), "SetValue called outside a task") {
			t.Errorf("SetValue outside a task: panic %v", p)
		}
	}()
	sched.SetValue(localKey{}, 1)
}

type requestID struct{}

// Task-local values: what a task sets, only it sees, as long as it lives.
func ExampleSetValue() {
	s := sched.New()
	logf := func(format string, args ...any) {
		fmt.Printf("[%v] "+format+"\n", append([]any{sched.Value(requestID{})}, args...)...)
	}
	for _, id := range []string{"r1", "r2"} {
		s.Go(func() {
			sched.SetName("request " + id) // shown by Dump and deadlock reports
			sched.SetValue(requestID{}, id)
			logf("start")
			sched.Yield() // the other request runs
			logf("done")
		})
	}
	if err := s.Run(); err != nil {
		fmt.Println(err)
	}
	// Output:
	// [r1] start
	// [r2] start
	// [r1] done
	// [r2] done
}

// A task's name labels it in Dump and in deadlock reports, which list each
// stuck task with what it waits on and its function.
func ExampleSetName() {
	s := sched.New()
	var orders sched.Chan[string]
	s.Go(func() {
		sched.SetName("order consumer")
		orders.Recv() // no task will ever send
	})
	fmt.Println(s.Run())
	// Output:
	// sched: deadlock: 1 task(s) blocked with nothing that could wake them:
	//	task 1 "order consumer": blocked on chan receive [github.com/coopgo/coop/sched_test.ExampleSetName.func1]
}
