// Package models holds the daemon models the study compares, one file each,
// and the registry through which the harness finds them.
//
// Every model serves the same protocol (package echo: read what arrives,
// write it back) with the same read size (echo.BufSize), sets TCP_NODELAY
// on every connection, listens with the same backlog, and runs in a server
// process of its own that the harness starts, pins and measures. A model's
// Serve runs until that process is killed.
//
// Adding a model is one Register call in its own file; the coop models are
// reserved in coop.go and print as skipped until they are written.
package models

import (
	"fmt"
	"slices"
)

// Options is what the harness tells a server model.
type Options struct {
	// Addr is the loopback address to listen on (ip:port).
	Addr string
	// Conns is the most connections the measurement will open. Only the
	// process pool uses it, to size its pool.
	Conns int
	// BufSize is the size of each read; echo.BufSize for every model.
	BufSize int
	// Ready must be called once, when the server accepts connections, with
	// the address it listens on.
	Ready func(addr string)
}

// Model is one way of writing the echo server.
type Model struct {
	Name string // row name: "net", "epoll", "coop-task"
	What string // one line for the tables

	// GOMAXPROCS for the server process.
	GOMAXPROCS int
	// MultiCore models may use every CPU (including the client's); the
	// others are pinned to the server CPU.
	MultiCore bool

	// MaxConns, if not 0, is the most connections the model can serve in
	// this study, and Limit says why; larger rows print Limit instead.
	MaxConns int
	Limit    string

	// Capacity, if set, returns the most connections this machine lets the
	// model hold, and why (kernel limits on threads, say); larger rows
	// print the reason instead of failing half-way.
	Capacity func() (int, string)

	// PerRowServer models are sized by their connection count (a pool of
	// workers, idle ones included, is the model's cost): each row gets a
	// fresh server sized for it, checked before it is timed.
	PerRowServer bool

	// FullOnly models are references the quick study has no time for:
	// they run with -full and -smoke, or when -models names them; quick
	// mode leaves them out and says so in one line.
	FullOnly bool

	// Serve runs the server in the server process. It returns only on
	// error.
	Serve func(Options) error

	// Skip, if not empty, says why the model cannot run yet or here; the
	// study prints the row as "skipped: <Skip>".
	Skip string
}

var registry []Model

// Register adds a model. Names must be unique; Serve or Skip must be set.
func Register(m Model) {
	if _, dup := Lookup(m.Name); dup {
		panic(fmt.Sprintf("models: %q registered twice", m.Name))
	}
	if m.Serve == nil && m.Skip == "" {
		panic(fmt.Sprintf("models: %q has neither Serve nor Skip", m.Name))
	}
	if m.GOMAXPROCS == 0 {
		m.GOMAXPROCS = 1
	}
	registry = append(registry, m)
}

// All returns the models in registration order (the order of the files'
// init functions: alphabetical), sorted by the study's row order.
func All() []Model {
	out := slices.Clone(registry)
	slices.SortStableFunc(out, func(a, b Model) int { return rank(a.Name) - rank(b.Name) })
	return out
}

// order is the row order of the tables; models not listed follow.
var order = []string{"epoll", "epoll-buf", "gnet", "coop-task", "coop-ready", "net", "threads", "procpool", "epoll-2", "epoll-2-pinned", "net-2", "coop-group", "coop-group-pinned", "hybrid"}

func rank(name string) int {
	if i := slices.Index(order, name); i >= 0 {
		return i
	}
	return len(order)
}

// Lookup finds a model by name.
func Lookup(name string) (Model, bool) {
	for _, m := range registry {
		if m.Name == name {
			return m, true
		}
	}
	return Model{}, false
}
