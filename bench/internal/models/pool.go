//go:build linux

package models

import (
	"fmt"
	"log"
	"net"
	"os"
	"slices"
	"strings"

	"github.com/coopgo/coop/bench/internal/child"
	"github.com/coopgo/coop/netio/prefork"
)

// poolListener names the pool models' one listener.
const poolListener = "echo"

// runPool runs cfg as a netio/prefork pool in the server process: this
// process is the master, and each worker a new execution of the bench
// binary in the serve role with the same arguments (Config.Args, unless
// cfg sets them), which reaches this function again and becomes the
// worker (prefork.IsWorker). child.Main removes the role's variable from
// the environment, so the pool is given it back (Config.Env).
//
// The master learns that every worker is ready the way systemd would:
// through sd_notify on NOTIFY_SOCKET, here an abstract Unix datagram
// socket of this process (nothing on disk to clean up when the harness
// kills the server). It then calls ready, if set, and reports the
// server ready.
func runPool(opt Options, cfg *prefork.Config, ready func() error) error {
	cfg.Listen = []prefork.Listen{{Name: poolListener, Network: "tcp4", Address: opt.Addr}}
	cfg.Env = append(cfg.Env, child.Env(ServeRole))
	if cfg.Logger == nil {
		cfg.Logger = log.New(os.Stderr, "", log.Lmicroseconds)
	}
	if prefork.IsWorker() {
		return prefork.Run(cfg) // never returns
	}
	name := fmt.Sprintf("@coop-bench-pool-%d", os.Getpid())
	nc, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: name, Net: "unixgram"})
	if err != nil {
		return fmt.Errorf("pool: notify socket: %w", err)
	}
	defer nc.Close()
	if err := os.Setenv("NOTIFY_SOCKET", name); err != nil {
		return err
	}
	failed := make(chan error, 1)
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := nc.Read(buf)
			if err != nil {
				return // closed: the pool has ended
			}
			if !slices.Contains(strings.Split(string(buf[:n]), "\n"), "READY=1") {
				continue
			}
			if ready != nil {
				if err := ready(); err != nil {
					failed <- err
					return
				}
			}
			opt.Ready(opt.Addr)
			return
		}
	}()
	ran := make(chan error, 1)
	go func() { ran <- prefork.Run(cfg) }()
	select {
	case err := <-failed:
		return err // the master exits, and its workers with it (their lifeline)
	case err := <-ran:
		if err == nil {
			err = fmt.Errorf("pool: the master stopped")
		}
		return err
	}
}
