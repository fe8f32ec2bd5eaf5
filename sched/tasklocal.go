package sched

// Task names and task-local values: State Threads' st_thread_setspecific,
// for the few tasks that want them. Both live in the task's taskExt,
// allocated on first use, and end with the task (a recycled Spawn task
// starts with none).

// SetName names the calling task: Dump and deadlock reports show the name
// next to its number, so that a server can tell its tasks apart ("conn
// 10.0.0.7:51234", "ticker"). It panics outside a task.
func SetName(name string) {
	t := Current()
	if t == nil {
		panicNoTask("SetName")
	}
	t.ext().name = name
}

// Name returns the name SetName gave the calling task, or "" (also
// outside a task).
func Name() string {
	if t := Current(); t != nil {
		if x := t.peekExt(); x != nil {
			return x.name
		}
	}
	return ""
}

// SetValue sets the calling task's value for key; a nil value removes
// it. The value is the task's alone and lives as long as the task. Keys
// are compared as map keys are; use an unexported type of your own to
// avoid clashes, as with context.WithValue. It panics outside a task.
func SetValue(key, value any) {
	t := Current()
	if t == nil {
		panicNoTask("SetValue")
	}
	x := t.ext()
	if value == nil {
		delete(x.values, key)
		return
	}
	if x.values == nil {
		x.values = make(map[any]any)
	}
	x.values[key] = value
}

// Value returns the calling task's value for key, or nil if it has none
// or the caller is not a task.
func Value(key any) any {
	if t := Current(); t != nil {
		if x := t.peekExt(); x != nil {
			return x.values[key]
		}
	}
	return nil
}
