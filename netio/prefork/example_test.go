package prefork_test

import (
	"io"
	"log"
	"time"

	"github.com/coopgo/coop/netio"
	"github.com/coopgo/coop/netio/prefork"
)

// An ondemand pool (MinWorkers 0, PHP-FPM's pm = ondemand) runs no
// worker until a connection comes: the master watches the listening
// socket, starts a worker, and the worker accepts the connection from the
// queue where it waited. Between one worker and MaxWorkers the pool
// adapts to its connections in flight (here 100 per worker); a worker
// with no connection for IdleTimeout is retired, down to none.
func ExampleConfig_ondemand() {
	err := prefork.Run(&prefork.Config{
		Listen:         []prefork.Listen{{Network: "tcp", Address: "127.0.0.1:8080"}},
		MinWorkers:     0,
		MaxWorkers:     4,
		IdleTimeout:    30 * time.Second,
		Load:           prefork.LoadConns,
		ConnsPerWorker: 100,
		Serve: func(w *prefork.Worker) error {
			return w.Serve(&netio.Server{Handler: func(c *netio.Conn) {
				io.Copy(c, c) // echo
			}})
		},
	})
	if err != nil {
		log.Fatal(err)
	}
}
