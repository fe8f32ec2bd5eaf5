//go:build darwin || dragonfly || freebsd || netbsd || openbsd

package netio

import "io"

// Outside Linux every copy is the generic one. darwin and FreeBSD have a
// sendfile(2) that could serve files; it is not wired up yet.

func (c *Conn) readFromFast(r io.Reader) (int64, bool, error) { return 0, false, nil }

func (c *Conn) writeToFast(w io.Writer) (int64, bool, error) { return 0, false, nil }
