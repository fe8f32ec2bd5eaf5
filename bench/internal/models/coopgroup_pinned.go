//go:build linux

package models

import "github.com/coopgo/coop/sched"

func init() {
	Register(Model{
		Name:       "coop-group-pinned",
		What:       "coop-group with scheduler i's thread pinned to CPU i (sched.WithCPUPerScheduler): one scheduler on the server CPU, one on the client's",
		GOMAXPROCS: 2,
		MultiCore:  true,
		FullOnly:   true,
		Serve:      func(opt Options) error { return serveCoop(opt, false, 2, sched.WithCPUPerScheduler()) },
	})
}
