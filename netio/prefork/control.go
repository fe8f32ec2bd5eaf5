package prefork

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"
)

// Status is the pool's state as the control socket's status command
// reports it.
type Status struct {
	PID        int    `json:"pid"`        // the master's
	Generation int    `json:"generation"` // the newest
	Mode       string `json:"mode"`
	// Pool is "fixed", "dynamic" (MinWorkers < MaxWorkers) or
	// "ondemand" (MinWorkers 0: it idles at zero workers).
	Pool    string `json:"pool"`
	Workers int    `json:"workers"` // slots wanted: 0 when an ondemand pool idles
	Ready   int    `json:"ready"`   // slots whose worker is ready: the capacity
	// Watching says that the pool idles at zero workers and the master
	// watches the listening sockets for the next connection.
	Watching  bool `json:"watching"`
	Reloading bool `json:"reloading"`
	Upgrading bool `json:"upgrading"`
	Stopping  bool `json:"stopping"`
	// MasterCPU is the CPU time the master has used, in seconds
	// (getrusage, user and system, all its threads).
	MasterCPU float64 `json:"master_cpu"`
	// Processes lists every worker process, the draining ones included.
	Processes []WorkerStatus `json:"processes"`
}

// WorkerStatus is one worker process in a Status.
type WorkerStatus struct {
	PID        int     `json:"pid"`
	Slot       int     `json:"slot"`
	Generation int     `json:"generation"`
	State      string  `json:"state"`     // starting, ready, draining, stopping, hung
	Uptime     float64 `json:"uptime"`    // seconds
	Conns      uint64  `json:"conns"`     // connections accepted
	Active     int64   `json:"active"`    // connections being served
	Busy       float64 `json:"busy"`      // share of its schedulers' time spent running, last interval
	RSS        int64   `json:"rss"`       // resident set, bytes
	Restarts   int     `json:"restarts"`  // of its slot
	LastExit   string  `json:"last_exit"` // of its slot's previous worker
}

// Control sends one command to the control socket at path and returns
// the master's answer: "status" (the answer is a Status in JSON),
// "reload", "upgrade", "scale N", "stop" (graceful) or "quit"
// (immediate). An error the master reports comes back as an error.
func Control(path, command string) (string, error) {
	c, err := net.DialTimeout("unix", path, 5*time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := fmt.Fprintf(c, "%s\n", strings.TrimSpace(command)); err != nil {
		return "", err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return "", fmt.Errorf("prefork: control %s: %w", path, err)
	}
	line = strings.TrimSuffix(line, "\n")
	if msg, ok := strings.CutPrefix(line, "error: "); ok {
		return "", errors.New(msg)
	}
	return line, nil
}

// ReadStatus asks the control socket at path for the pool's Status.
func ReadStatus(path string) (*Status, error) {
	out, err := Control(path, "status")
	if err != nil {
		return nil, err
	}
	var st Status
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		return nil, fmt.Errorf("prefork: status: %w", err)
	}
	return &st, nil
}
