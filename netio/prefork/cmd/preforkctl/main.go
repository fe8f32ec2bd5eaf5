// Command preforkctl talks to the control socket of a prefork pool
// (prefork.Config.ControlSocket):
//
//	preforkctl -s /run/app.sock status      # a table of the workers
//	preforkctl -s /run/app.sock status -json
//	preforkctl -s /run/app.sock reload      # a new generation, rolling
//	preforkctl -s /run/app.sock upgrade     # a new master from the binary on disk
//	preforkctl -s /run/app.sock scale 8
//	preforkctl -s /run/app.sock stop        # graceful; quit: immediate
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/coopgo/coop/netio/prefork"
)

func main() {
	sock := flag.String("s", "", "the pool's control socket")
	asJSON := flag.Bool("json", false, "status: print the JSON the master sends")
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: preforkctl -s SOCKET status|reload|upgrade|scale N|stop|quit")
		flag.PrintDefaults()
	}
	flag.Parse()
	args := flag.Args()
	// Flags end at the command: "status -json" (as above) is taken too.
	if len(args) == 2 && args[0] == "status" && (args[1] == "-json" || args[1] == "--json") {
		*asJSON, args = true, args[:1]
	}
	if *sock == "" || len(args) == 0 {
		flag.Usage()
		os.Exit(2)
	}
	cmd := strings.Join(args, " ")
	out, err := prefork.Control(*sock, cmd)
	if err != nil {
		fmt.Fprintf(os.Stderr, "preforkctl: %s: %v\n", cmd, err)
		os.Exit(1)
	}
	if args[0] != "status" || *asJSON {
		fmt.Println(out)
		return
	}
	var st prefork.Status
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		fmt.Fprintf(os.Stderr, "preforkctl: status: %v\n", err)
		os.Exit(1)
	}
	fmt.Printf("master %d (CPU %.2fs), generation %d, %s, %s pool, %d of %d workers ready", st.PID, st.MasterCPU, st.Generation, st.Mode, st.Pool, st.Ready, st.Workers)
	for _, f := range []struct {
		on   bool
		what string
	}{{st.Watching, "idle at zero, watching the listeners"}, {st.Reloading, "reloading"}, {st.Upgrading, "upgrading"}, {st.Stopping, "stopping"}} {
		if f.on {
			fmt.Printf(", %s", f.what)
		}
	}
	fmt.Println()
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PID\tSLOT\tGEN\tSTATE\tUPTIME\tCONNS\tACTIVE\tBUSY\tRSS\tRESTARTS\tLAST EXIT")
	for _, w := range st.Processes {
		fmt.Fprintf(tw, "%d\t%d\t%d\t%s\t%v\t%d\t%d\t%.0f%%\t%.1f MiB\t%d\t%s\n", w.PID, w.Slot, w.Generation, w.State,
			time.Duration(w.Uptime*float64(time.Second)).Round(time.Second), w.Conns, w.Active, 100*w.Busy, float64(w.RSS)/(1<<20), w.Restarts, w.LastExit)
	}
	tw.Flush()
}
