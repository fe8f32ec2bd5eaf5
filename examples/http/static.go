package main

import (
	"errors"
	"fmt"
	"io/fs"
	"mime"
	"path"
	"strconv"
	"strings"
	"time"
)

// static answers GET or HEAD /static/rel with the file rel under the root.
// The header is flushed with whatever responses precede it in the batch,
// then the body goes from the file to the socket without passing through
// this process (netio.Conn.ReadFrom, which uses sendfile where the system
// has one wired up, and copies through a buffer elsewhere).
//
// The file is opened and read on the scheduler's thread: for files in the
// page cache that costs microseconds; a server of cold files on slow disks
// would Offload the open.
func (s *session) static(rel, date []byte, conn string, head bool) error {
	name, ok := cleanPath(rel)
	if !ok {
		return s.refuse(statusBadRequest, date)
	}
	f, err := s.loc.cfg.root.Open(name)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, fs.ErrPermission) {
			// Worth a line in the log: os.Root refusing a symbolic link
			// that leads out of the root, say. To the client the file
			// is not found either way.
			s.logError("open", err)
		}
		s.out = errorResponse[404].appendTo(s.out, date, conn, head)
		return nil
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() {
		s.out = errorResponse[404].appendTo(s.out, date, conn, head)
		return nil
	}
	size := st.Size()
	s.out = append(s.out, helloResponse.head...)
	s.out = append(s.out, date...)
	s.out = append(s.out, conn...)
	s.out = append(s.out, "Content-Type: "...)
	s.out = append(s.out, contentType(name)...)
	s.out = append(s.out, "\r\nContent-Length: "...)
	s.out = strconv.AppendInt(s.out, size, 10)
	s.out = append(s.out, "\r\nLast-Modified: "...)
	s.out = st.ModTime().UTC().AppendFormat(s.out, httpTime)
	s.out = append(s.out, "\r\n\r\n"...)
	if head {
		return nil
	}
	if err := s.flush(); err != nil {
		return err
	}
	// A large file may take longer than one response's write timeout.
	s.wdl = time.Now().Add(s.loc.cfg.writeTimeout)
	s.nc.SetWriteDeadline(s.wdl)
	n, err := s.nc.ReadFrom(f) // sendfile(2) on Linux
	if err == nil && n != size {
		err = fmt.Errorf("static %s: sent %d of %d bytes (file changed?)", name, n, size)
	}
	// The header promised size bytes: after a short body the connection
	// cannot carry another response.
	return err
}

// cleanPath turns the rest of a /static/ path into a name relative to the
// root: percent-decoded, "." and empty segments dropped, ".." resolved. It
// refuses a path that climbs above the root, bad escapes and NUL bytes.
// The root itself (os.Root) refuses symbolic links that lead outside it.
func cleanPath(rel []byte) (string, bool) {
	p := string(rel)
	if strings.IndexByte(p, '%') >= 0 {
		var ok bool
		if p, ok = unescape(p); !ok {
			return "", false
		}
	}
	if strings.IndexByte(p, 0) >= 0 || strings.IndexByte(p, '\\') >= 0 {
		return "", false
	}
	depth := 0
	for seg := range strings.SplitSeq(p, "/") {
		switch seg {
		case "", ".":
		case "..":
			if depth--; depth < 0 {
				return "", false
			}
		default:
			depth++
		}
	}
	p = path.Clean("/" + p)[1:]
	if p == "" {
		p = "."
	}
	return p, true
}

// unescape decodes %XX escapes.
func unescape(s string) (string, bool) {
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			b = append(b, s[i])
			continue
		}
		if i+2 >= len(s) {
			return "", false
		}
		hi, lo := unhex(s[i+1]), unhex(s[i+2])
		if hi < 0 || lo < 0 {
			return "", false
		}
		b = append(b, byte(hi<<4|lo))
		i += 2
	}
	return string(b), true
}

func unhex(c byte) int {
	switch {
	case '0' <= c && c <= '9':
		return int(c - '0')
	case 'a' <= c && c <= 'f':
		return int(c - 'a' + 10)
	case 'A' <= c && c <= 'F':
		return int(c - 'A' + 10)
	}
	return -1
}

// contentType guesses a file's media type from its extension.
func contentType(name string) string {
	if t := mime.TypeByExtension(path.Ext(name)); t != "" {
		return t
	}
	return "application/octet-stream"
}
