// Package prefork runs a server as a pool of processes: a master that
// owns the listening sockets and supervises workers, each worker a new
// execution of the same binary running coop schedulers — the model the
// seed thread recommends most (Apache 1.3's pool of processes), with the
// event loop inside each process that it calls the hybrid.
//
//	func main() {
//		err := prefork.Run(&prefork.Config{
//			Listen:  []prefork.Listen{{Network: "tcp", Address: ":8080"}},
//			Workers: 4,
//			Serve: func(w *prefork.Worker) error {
//				return w.Serve(&netio.Server{Handler: handle})
//			},
//		})
//		if err != nil {
//			log.Fatal(err)
//		}
//	}
//
// Run tells the roles apart: in the master it opens the listeners and
// supervises; in a worker (the same binary, executed again with the same
// arguments and a variable in its environment) it takes its listeners as
// *netio.Listener, one per scheduler of its sched.Group (Config.Cores),
// and runs Config.Serve. Go cannot fork without exec, so every
// descriptor a worker gets is passed explicitly and everything else is
// close-on-exec; workers are started with syscall.ForkExec and raw
// descriptors, because os/exec calls (*os.File).Fd, which would switch
// the shared listening sockets to blocking mode under every worker.
// It needs Linux; elsewhere Run returns ErrUnsupported.
//
// # What the seed asked for, and where it is
//
// "A worker may crash or be killed without taking the service down."
// Each worker is a process; the master reaps it through a pidfd (no
// zombie, no signal to a reused pid) — but for the workers that end once
// the pool is stopping, which it leaves to whoever adopts them when it
// exits (init, the service manager): reaping can hold the reaping thread
// in the kernel for seconds, and a process cannot exit before all its
// threads have left the kernel. A stop is bounded: a worker that has
// exited (its end of the control socket closed) but whose end the kernel
// has not reported within a second, or that SIGKILL has not ended within
// two, is logged and no longer waited for. The master classifies each
// exit (status, signal, core dump, the master's own kill, the OOM
// killer), and starts another in its slot at once if it had run for
// StableAfter, else after a per-slot back-off doubling from BackoffMin
// to BackoffMax with jitter. CrashLoop failed starts in a row are logged as a crash loop
// with the reason, and retried at the cap: no fork storm.
//
// "Workers are recycled when libraries leak." MaxConns (with jitter),
// MaxAge and MaxRSS recycle a worker; a recycle, like every replacement,
// starts the successor, waits until it is ready and only then drains the
// old worker, MaxSurge slots at a time, so capacity never dips
// (gunicorn#2567 and #3581: recycling dropped requests, and had no
// memory limit).
//
// "SIGHUP makes the parent reload and respawn children, either killing
// currently served connections or leaving existing sessions to complete
// cleanly." SIGHUP starts a new generation, rolling, surge before
// retire; the old workers stop accepting and finish their sessions within
// DrainTimeout (Worker.Draining tells a keep-alive protocol to close
// after its next reply, so that no request races the close), or close
// them at once with ReloadImmediate. Nothing queued is lost: the sockets
// belong to the master, and the successor accepts from the same ones
// (gunicorn#3394: reloads dropped requests). SIGUSR2 upgrades the binary
// as nginx and unicorn do: a new master from the binary on disk inherits
// every socket, starts its workers, and once they are ready the old
// master drains and exits; a new binary that fails leaves the old one
// serving. SIGTERM and SIGINT stop gracefully (StopTimeout; with
// StopDelay the workers first serve on, Draining, while a load balancer
// takes the host out), SIGQUIT at once, SIGTTIN and SIGTTOU add and remove a worker. A signal the kernel
// merges with another still acts, and one that arrives during the action
// of another is acted on after it.
//
// "Processes accept(2) in parallel." In ReusePort mode every scheduler
// of every slot has a socket of its own in one SO_REUSEPORT group: the
// kernel spreads connections evenly (max/min connections per worker 1.03
// for 4 workers and 10,000 connections in TestFairness), where one shared
// socket gives most to the acceptor that waited last (4.4 in the same
// test; pitchfork#71). A slot's sockets outlive its workers, so the
// backlog survives a replacement — the trade-off granian#849 and
// tableflip#45 could not escape — and a classic BPF program attached to
// the group steers new connections only to slots whose worker is ready,
// so that a slot in back-off or being retired holds none. Shared mode
// (and Unix sockets) use one socket registered with EPOLLEXCLUSIVE.
//
// "The pool is sized by configuration and load." Workers fixes it;
// MinWorkers and MaxWorkers make it adaptive, keeping the spare capacity
// between MinSpare and MaxSpare workers' worth, measured as scheduler
// busy time or connections in flight (Apache's Min/MaxSpareServers,
// PHP-FPM's dynamic mode). MinWorkers 0 is PHP-FPM's ondemand mode: the
// pool idles at zero workers, costing one sleeping process; the master
// watches the listening sockets (one-shot epoll: it never accepts, and
// does not spin while the worker it started gets ready or backs off from
// a failed start), the connection waits in the accept queue for the
// worker it starts, and workers idle for IdleTimeout are retired back to
// zero. The control socket's scale and SIGTTIN/TTOU change it by hand.
//
// "Privilege separation is easy." The master binds (ports below 1024 as
// root); each worker sets Rlimits, chroots (Chroot) and drops to User and
// Group before Serve runs, and, where cgroup v2 with the memory
// controller is writable, starts in a cgroup of its own with memory.max
// (MemoryMax); else the log says why the limit is skipped.
//
// "Each process may itself run an event loop or user threads." A worker
// runs Cores coop schedulers: the hybrid.
//
// And what the users of the others complained about: a worker never
// outlives its master (fiber#501): a socket pair whose other end only
// the master holds is its lifeline, watched by a goroutine (not a task,
// so that a worker whose schedulers are stuck still goes), and the
// worker exits when it reads end of stream, SIGKILL of the master
// included. A worker whose scheduler stops is not killed blind
// (gunicorn#3136): each scheduler runs a heartbeat task that bumps a
// counter in memory shared with the master, no system call on either
// side; a counter still for HangTimeout marks the worker hung, sched's
// watchdog has already logged the task holding the thread with its
// stack, the master asks for a dump of every goroutine and each
// scheduler's tasks (sent SIGCONT first, so a stopped worker can write
// it), starts a replacement and kills the worker DumpWait later.
//
// # Control and observability
//
// With ControlSocket the master listens on a Unix socket of mode 0600
// (peers must be root or the master's user) for one-line commands —
// status (JSON: the pool's kind — fixed, dynamic or ondemand — and
// whether it idles at zero watching its listeners, the master's CPU
// time, and per worker pid, slot, generation, state, uptime,
// connections, busy share, RSS, its slot's restarts and last exit),
// reload, upgrade, scale N, stop, quit — which Control and ReadStatus
// send, and cmd/preforkctl from a shell. With NOTIFY_SOCKET set (systemd
// Type=notify) it sends READY=1 (with MAINPID after an upgrade, which
// needs NotifyAccess=all), RELOADING=1, STOPPING=1 and, with
// WATCHDOG_USEC, WATCHDOG=1, and a STATUS= line when the number of
// ready workers changes ("ondemand: no worker; waiting for a
// connection" at zero). Sockets passed by systemd's socket
// activation (LISTEN_FDS, LISTEN_FDNAMES matched to Listen.Name) are
// used instead of opening new ones.
//
// # Hazards
//
// Workers re-run main up to Run: whatever main does before it, each
// worker does again (IsWorker tells the roles apart, for what only the
// master should do). A worker must reach the same Run: a program that
// dispatches on its arguments or environment before Run, and removes
// what it dispatched on (its own scheme of re-executions, a test
// binary's TestMain), says through Config.Args and Config.Env what leads
// back to it. Descriptors the program opened without close-on-exec (Go
// opens none) leak into every worker. Package init functions run in a
// worker before it drops its privileges.
package prefork
