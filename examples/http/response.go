package main

import (
	"strconv"
	"time"
)

// A canned response is precomputed at start-up; answering with it is a few
// appends to the connection's output buffer. It is laid out around the two
// parts that vary:
//
//	head | Date value | connection header | tail | body (not for HEAD)
type canned struct {
	head []byte // status line, Server, "Date: "
	tail []byte // the remaining header fields and the empty line
	body []byte
}

// Connection header variants, each beginning with the CRLF that ends the
// Date line.
const (
	connPersist   = "\r\n"                           // HTTP/1.1 default
	connKeepAlive = "\r\nConnection: keep-alive\r\n" // HTTP/1.0 that asked for it
	connClose     = "\r\nConnection: close\r\n"
)

const serverName = "coop"

// statusText holds the reason phrases of the statuses this server sends.
var statusText = map[int]string{
	200: "OK",
	400: "Bad Request",
	404: "Not Found",
	405: "Method Not Allowed",
	408: "Request Timeout",
	411: "Length Required",
	413: "Content Too Large",
	414: "URI Too Long",
	431: "Request Header Fields Too Large",
	500: "Internal Server Error",
	503: "Service Unavailable",
	505: "HTTP Version Not Supported",
}

func statusHead(code int) []byte {
	return []byte("HTTP/1.1 " + strconv.Itoa(code) + " " + statusText[code] + "\r\nServer: " + serverName + "\r\nDate: ")
}

func newCanned(code int, extra, contentType, body string) *canned {
	return &canned{
		head: statusHead(code),
		tail: []byte(extra + "Content-Type: " + contentType + "\r\nContent-Length: " +
			strconv.Itoa(len(body)) + "\r\n\r\n"),
		body: []byte(body),
	}
}

// The responses of the fixed routes and the errors.
var (
	helloResponse = newCanned(200, "", "text/plain; charset=utf-8", "Hello, World!\n")
	errorResponse = func() map[int]*canned {
		m := make(map[int]*canned)
		for code, text := range statusText {
			if code < 400 {
				continue
			}
			extra := ""
			if code == 405 {
				extra = "Allow: GET, HEAD\r\n"
			}
			m[code] = newCanned(code, extra, "text/plain; charset=utf-8", strconv.Itoa(code)+" "+text+"\n")
		}
		return m
	}()
)

// appendTo appends the response to out.
func (c *canned) appendTo(out, date []byte, conn string, head bool) []byte {
	out = append(out, c.head...)
	out = append(out, date...)
	out = append(out, conn...)
	out = append(out, c.tail...)
	if !head {
		out = append(out, c.body...)
	}
	return out
}

// httpTime is the IMF-fixdate format of RFC 9110 §5.6.7.
const httpTime = "Mon, 02 Jan 2006 15:04:05 GMT"

// A clock caches the Date header value, which changes once a second: one
// per scheduler, so that no lock or atomic is needed.
type clock struct {
	sec  int64
	date []byte
}

// dateAt returns the Date value for now.
func (c *clock) dateAt(now time.Time) []byte {
	if sec := now.Unix(); sec != c.sec || c.date == nil {
		c.sec = sec
		c.date = now.UTC().AppendFormat(c.date[:0], httpTime)
	}
	return c.date
}
