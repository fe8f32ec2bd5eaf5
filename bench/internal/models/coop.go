package models

// The coop models. They plug in here, one Register call each, when netio
// lands (issue 4): replace Skip with Serve, for example
//
//	Register(Model{Name: "coop-task", What: "...", Serve: serveCoopTask})
//
// with serveCoopTask in a file of its own (coop_task.go). Until then the
// study prints each row as "skipped: <Skip>", so no row silently vanishes.
func init() {
	const notYet = "coop netio has not landed yet (issue 4)"
	Register(Model{Name: "coop-task", What: "coop: task per connection (netio.Server)", Skip: notYet})
	Register(Model{Name: "coop-ready", What: "coop: ready mode, no task while idle (netio.Server.Ready)", Skip: notYet})
	Register(Model{Name: "coop-group", What: "coop: sched.Group over both CPUs, SO_REUSEPORT listener per scheduler", GOMAXPROCS: 2, MultiCore: true, Skip: notYet})
}
