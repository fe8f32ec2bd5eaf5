package prefork

import (
	"io"
	"log"
	"net"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// TestControlCloseWhileAccepting closes the control socket and waits for
// the replies, as a stopping master does, while clients keep connecting.
// A connection accepted just before the close was counted (WaitGroup.Add
// from zero) concurrently with finish's Wait: under -race that is a
// reported race, and without -race a reply Wait could miss.
func TestControlCloseWhileAccepting(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ctl")
	rounds := 100
	if testing.Short() {
		rounds = 30
	}
	for i := range rounds {
		m := &master{cfg: &Config{ControlSocket: path, Logger: log.New(io.Discard, "", 0)}, cmds: make(chan command)}
		if err := m.openControl(-1); err != nil {
			t.Fatalf("round %d: %v", i, err)
		}
		stop := make(chan struct{})
		var clients sync.WaitGroup
		for range 2 {
			clients.Add(1)
			go func() {
				defer clients.Done()
				for {
					select {
					case <-stop:
						return
					default:
					}
					c, err := net.DialTimeout("unix", path, time.Second)
					if err != nil {
						continue // closed (refused) or not yet there
					}
					c.Close() // the master's read ends at EOF at once
				}
			}()
		}
		time.Sleep(time.Duration(i%5) * 100 * time.Microsecond)
		m.control.Close()
		m.waitControlReplies()
		close(stop)
		clients.Wait()
	}
}
