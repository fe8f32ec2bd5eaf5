package prefork

import "errors"

// ErrUnsupported is returned by Run where the pool cannot run: it needs
// Linux (pidfd, memfd, EPOLLEXCLUSIVE, SO_REUSEPORT steering, cgroups).
var ErrUnsupported = errors.New("prefork: process pools need Linux")

// Run runs the pool. Call it early in main, before the program does
// anything a worker should not repeat: workers are this same binary,
// executed again with the same arguments, and Run tells the roles apart.
//
// In the master, Run opens the listeners, starts the workers and
// supervises them until the pool stops (SIGTERM, SIGINT, SIGQUIT, the
// control socket's stop or quit) or hands over to a new master (SIGUSR2),
// then returns nil; it returns an error if the pool cannot start.
//
// In a worker, Run drops privileges, takes its listeners, starts its
// schedulers, calls cfg.Serve and exits the process when Serve returns:
// status 0 for nil, 1 for an error (logged). It never returns there.
func Run(cfg *Config) error {
	c, err := cfg.withDefaults()
	if err != nil {
		return err
	}
	return run(c)
}
