// Package wrkout reads the summary that wrk prints at the end of a run:
// the tests' one parser of it, for the examples' and the pool's load tests.
package wrkout

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// Stats is what a wrk summary reports. wrk prints the non-2xx and socket
// error lines only when they are not zero.
type Stats struct {
	Requests                      int // completed requests
	Non2xx                        int // responses with a status outside 2xx and 3xx
	Connect, Read, Write, Timeout int // socket errors
}

// Failed is the number of requests that did not succeed.
func (s Stats) Failed() int { return s.Non2xx + s.Connect + s.Read + s.Write + s.Timeout }

var (
	requestsRE = regexp.MustCompile(`(\d+) requests in`)
	non2xxRE   = regexp.MustCompile(`Non-2xx or 3xx responses: (\d+)`)
	socketRE   = regexp.MustCompile(`Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)`)
)

// Parse reads wrk's output. It fails when the summary is missing, or when a
// non-2xx or socket-error line is there but not in the form it knows, so that
// a failure is never read as a success.
func Parse(out string) (Stats, error) {
	var s Stats
	m := requestsRE.FindStringSubmatch(out)
	if m == nil {
		return s, fmt.Errorf("no wrk summary in its output:\n%s", out)
	}
	s.Requests, _ = strconv.Atoi(m[1])
	if m := non2xxRE.FindStringSubmatch(out); m != nil {
		s.Non2xx, _ = strconv.Atoi(m[1])
	} else if strings.Contains(out, "Non-2xx") {
		return s, fmt.Errorf("unknown wrk non-2xx line:\n%s", out)
	}
	if m := socketRE.FindStringSubmatch(out); m != nil {
		s.Connect, _ = strconv.Atoi(m[1])
		s.Read, _ = strconv.Atoi(m[2])
		s.Write, _ = strconv.Atoi(m[3])
		s.Timeout, _ = strconv.Atoi(m[4])
	} else if strings.Contains(out, "Socket errors") {
		return s, fmt.Errorf("unknown wrk socket-error line:\n%s", out)
	}
	return s, nil
}

// Check reads wrk's output as a run that had to succeed: it returns the
// completed requests, or an error if the summary is unreadable, nothing
// completed or any request failed.
func Check(out string) (int, error) {
	s, err := Parse(out)
	if err != nil {
		return 0, err
	}
	if s.Requests == 0 || s.Failed() > 0 {
		return 0, fmt.Errorf("wrk: %d requests, or errors:\n%s", s.Requests, out)
	}
	return s.Requests, nil
}
