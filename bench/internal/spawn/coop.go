package spawn

// The kinds coop's scheduler provides. When package sched is ready, replace
// Skip with Spawn and Park, for example
//
//	Register(Kind{Name: "sched task", What: "...", Spawn: spawnTasks, Park: parkTasks})
//
// with spawnTasks and parkTasks in a file of their own (sched.go). Until
// then the row prints as "skipped: <Skip>".
func init() {
	Register(Kind{Name: "sched task", What: "sched task create+run+exit; parked: a task blocked on a sync primitive",
		Skip: "package sched is not ready for the bench yet (issue 3)"})
}
