package clients

import (
	"bufio"
	"encoding/csv"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// WrkResult is what one wrk run reports.
type WrkResult struct {
	Requests int64         // "N requests in ..."
	Duration time.Duration // "... in 1.02s"
	RPS      float64       // "Requests/sec:"
	// The latency distribution of --latency: the client's own
	// closed-loop figures.
	P50, P99 time.Duration
	Non2xx   int64 // "Non-2xx or 3xx responses: N"
	// "Socket errors: connect C, read R, write W, timeout T", summed.
	SocketErrors int64
}

// ParseWrk parses the output of wrk --latency.
func ParseWrk(out string) (WrkResult, error) {
	var r WrkResult
	var haveReq, haveRPS, have50, have99 bool
	sc := bufio.NewScanner(strings.NewReader(out))
	inDist := false
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		f := strings.Fields(line)
		switch {
		case line == "Latency Distribution":
			inDist = true
		case inDist && len(f) == 2 && strings.HasSuffix(f[0], "%"):
			d, err := parseWrkTime(f[1])
			if err != nil {
				return r, fmt.Errorf("wrk latency line %q: %w", line, err)
			}
			switch f[0] {
			case "50%":
				r.P50, have50 = d, true
			case "99%":
				r.P99, have99 = d, true
			}
		case len(f) >= 4 && f[1] == "requests" && f[2] == "in":
			inDist = false
			n, err := strconv.ParseInt(f[0], 10, 64)
			if err != nil {
				return r, fmt.Errorf("wrk requests line %q: %w", line, err)
			}
			d, err := parseWrkTime(strings.TrimSuffix(f[3], ","))
			if err != nil {
				return r, fmt.Errorf("wrk requests line %q: %w", line, err)
			}
			r.Requests, r.Duration, haveReq = n, d, true
		case strings.HasPrefix(line, "Requests/sec:") && len(f) == 2:
			v, err := strconv.ParseFloat(f[1], 64)
			if err != nil {
				return r, fmt.Errorf("wrk line %q: %w", line, err)
			}
			r.RPS, haveRPS = v, true
		case strings.HasPrefix(line, "Non-2xx or 3xx responses:") && len(f) == 5:
			n, err := strconv.ParseInt(f[4], 10, 64)
			if err != nil {
				return r, fmt.Errorf("wrk line %q: %w", line, err)
			}
			r.Non2xx = n
		case strings.HasPrefix(line, "Socket errors:"):
			// Socket errors: connect 0, read 100, write 13323, timeout 0
			for i := 2; i+1 < len(f); i += 2 {
				n, err := strconv.ParseInt(strings.TrimSuffix(f[i+1], ","), 10, 64)
				if err != nil {
					return r, fmt.Errorf("wrk line %q: %w", line, err)
				}
				r.SocketErrors += n
			}
		}
	}
	switch {
	case !haveReq:
		return r, fmt.Errorf("wrk output has no \"requests in\" line: %q", clip(out))
	case !haveRPS:
		return r, fmt.Errorf("wrk output has no Requests/sec line: %q", clip(out))
	case !have50 || !have99:
		return r, fmt.Errorf("wrk output has no latency distribution (run with --latency): %q", clip(out))
	}
	return r, nil
}

// parseWrkTime parses wrk's times: "701.00us", "2.46ms", "1.02s", "1.50m".
func parseWrkTime(s string) (time.Duration, error) {
	units := []struct {
		suffix string
		d      time.Duration
	}{{"us", time.Microsecond}, {"ms", time.Millisecond}, {"s", time.Second}, {"m", time.Minute}, {"h", time.Hour}}
	for _, u := range units {
		if v, ok := strings.CutSuffix(s, u.suffix); ok {
			x, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return 0, err
			}
			return time.Duration(math.Round(x * float64(u.d))), nil
		}
	}
	return 0, fmt.Errorf("no unit in %q", s)
}

// BenchResult is one test's line of redis-benchmark --csv.
type BenchResult struct {
	Test     string
	RPS      float64
	P50, P99 time.Duration
}

// ParseRedisBenchmarkCSV parses the output of redis-benchmark --csv
// (Redis 7: "test","rps","avg_latency_ms","min_latency_ms",
// "p50_latency_ms","p95_latency_ms","p99_latency_ms","max_latency_ms").
func ParseRedisBenchmarkCSV(out string) ([]BenchResult, error) {
	recs, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil {
		return nil, fmt.Errorf("redis-benchmark csv: %w: %q", err, clip(out))
	}
	if len(recs) < 2 {
		return nil, fmt.Errorf("redis-benchmark csv: no result line: %q", clip(out))
	}
	col := map[string]int{}
	for i, h := range recs[0] {
		col[h] = i
	}
	for _, h := range []string{"test", "rps", "p50_latency_ms", "p99_latency_ms"} {
		if _, ok := col[h]; !ok {
			return nil, fmt.Errorf("redis-benchmark csv: no column %q in header %q", h, recs[0])
		}
	}
	var rs []BenchResult
	for _, rec := range recs[1:] {
		if len(rec) != len(recs[0]) {
			return nil, fmt.Errorf("redis-benchmark csv: line %q does not match header %q", rec, recs[0])
		}
		var vals [3]float64
		for i, h := range []string{"rps", "p50_latency_ms", "p99_latency_ms"} {
			v, err := strconv.ParseFloat(rec[col[h]], 64)
			if err != nil {
				return nil, fmt.Errorf("redis-benchmark csv: %s: %w", h, err)
			}
			vals[i] = v
		}
		rs = append(rs, BenchResult{
			Test: rec[col["test"]],
			RPS:  vals[0],
			P50:  time.Duration(math.Round(vals[1] * float64(time.Millisecond))),
			P99:  time.Duration(math.Round(vals[2] * float64(time.Millisecond))),
		})
	}
	return rs, nil
}

// clip shortens a client's output for an error message.
func clip(s string) string {
	const max = 400
	if len(s) > max {
		return s[:max] + "…"
	}
	return s
}
