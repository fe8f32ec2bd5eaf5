package sched

import "context"

// A TaskGroup runs the tasks of one job and collects their errors, as
// golang.org/x/sync/errgroup does for goroutines and libdill's bundles
// for coroutines: the first task to fail cancels the group's context,
// which interrupts the others (their blocking calls return a
// *ContextError matching the failure), and Wait returns that first error
// once every task has ended. Its tasks run on the scheduler of the task
// that made the group; Go and Wait must be called from tasks of that
// scheduler.
//
// The zero TaskGroup is ready to use, as errgroup.Group's is: it binds to
// the scheduler of the task that first calls Go, and its context, which
// only its tasks see, derives from context.Background(). NewTaskGroup
// derives it from a context of the caller's and returns it.
type TaskGroup struct {
	s      *Scheduler
	ctx    context.Context
	cancel context.CancelCauseFunc
	wg     WaitGroup
	err    error
}

// NewTaskGroup returns a group for the calling task's scheduler and its
// context, derived from ctx: it ends when a task of the group fails, when
// Wait returns, or when ctx ends. It panics outside a task.
func NewTaskGroup(ctx context.Context) (*TaskGroup, context.Context) {
	t := Current()
	if t == nil {
		panicNoTask("NewTaskGroup")
	}
	g := &TaskGroup{s: t.s}
	g.ctx, g.cancel = context.WithCancelCause(ctx)
	return g, g.ctx
}

// Go starts fn(ctx) in a task of the group, under the group's context. A
// non-nil error from fn is the group's if it is the first, and cancels
// the others.
func (g *TaskGroup) Go(fn func(ctx context.Context) error) {
	if g.s == nil {
		g.bind()
	}
	g.wg.Add(1)
	g.s.SpawnContext(g.ctx, func(ctx context.Context) {
		defer g.wg.Done()
		if err := fn(ctx); err != nil && g.err == nil {
			g.err = err
			g.cancel(err)
		}
	})
}

// Wait waits for every task of the group to end, then cancels its
// context and returns the first error a task returned, or nil. If the
// task calling Wait is interrupted first, Wait returns that error at once
// and the group's tasks go on.
func (g *TaskGroup) Wait() error {
	if err := g.wg.Wait(); err != nil {
		return err
	}
	if g.cancel != nil { // nil in a zero group that started no task
		g.cancel(nil)
	}
	return g.err
}

// bind sets up a zero group at its first Go.
func (g *TaskGroup) bind() {
	t := Current()
	if t == nil {
		panicNoTask("TaskGroup.Go")
	}
	g.s = t.s
	g.ctx, g.cancel = context.WithCancelCause(context.Background())
}
