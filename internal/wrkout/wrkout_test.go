package wrkout

import "testing"

func TestParse(t *testing.T) {
	clean := "Running 1s test @ http://127.0.0.1:1/\n  1 threads and 10 connections\n  12345 requests in 1.00s, 1.50MB read\nRequests/sec:  12345.00\n"
	failing := "  812 requests in 1.00s, 1.50MB read\n  Socket errors: connect 1, read 2, write 3, timeout 4\n  Non-2xx or 3xx responses: 5\n"
	for _, c := range []struct {
		out     string
		want    Stats
		wantErr bool
	}{
		{out: clean, want: Stats{Requests: 12345}},
		{out: failing, want: Stats{Requests: 812, Non2xx: 5, Connect: 1, Read: 2, Write: 3, Timeout: 4}},
		{out: "unable to connect to 127.0.0.1:1 Connection refused\n", wantErr: true},
		{out: "  3 requests in 1.00s\n  Socket errors: something new\n", wantErr: true},
		{out: "  3 requests in 1.00s\n  Non-2xx responses: 3\n", wantErr: true},
	} {
		got, err := Parse(c.out)
		if (err != nil) != c.wantErr {
			t.Errorf("Parse(%q): error %v, want error %v", c.out, err, c.wantErr)
			continue
		}
		if err == nil && got != c.want {
			t.Errorf("Parse(%q) = %+v, want %+v", c.out, got, c.want)
		}
	}
	if s, _ := Parse(failing); s.Failed() != 15 {
		t.Errorf("Failed() = %d, want 15", s.Failed())
	}
}

func TestCheck(t *testing.T) {
	clean := "  12345 requests in 1.00s, 1.50MB read\n"
	if n, err := Check(clean); n != 12345 || err != nil {
		t.Errorf("Check(clean run) = %d, %v, want 12345, nil", n, err)
	}
	for _, out := range []string{
		"  0 requests in 1.00s, 0B read\n",
		"  812 requests in 1.00s, 1.50MB read\n  Non-2xx or 3xx responses: 1\n",
		"  812 requests in 1.00s, 1.50MB read\n  Socket errors: connect 0, read 0, write 0, timeout 1\n",
		"unable to connect to 127.0.0.1:1 Connection refused\n",
	} {
		if n, err := Check(out); err == nil {
			t.Errorf("Check(%q) = %d, nil, want an error", out, n)
		}
	}
}
