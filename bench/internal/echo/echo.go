// Package echo defines the study's protocol and the sizes every server model
// and the load generator share: a server reads what arrives and writes it
// back; a client checks that every byte comes back, in order, unchanged.
//
// Request payloads are derived from (connection, sequence number) and stream
// payloads from (connection, offset), so a checker never stores what it
// sent: it regenerates the expected bytes and compares.
package echo

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
)

const (
	// MsgSize is the request and reply size of the request/response rows.
	MsgSize = 64

	// BufSize is the size of every server model's read buffer and of each
	// read it issues. One size for all: a model that read in bigger gulps
	// would make fewer system calls for reasons that have nothing to do
	// with its concurrency model.
	BufSize = 16 << 10

	// StreamChunk is the size of each write in the streaming rows.
	StreamChunk = 16 << 10

	// StreamWindow bounds the bytes a streaming client has sent and not yet
	// had back on one connection, so that neither side's socket buffers
	// can fill and deadlock the exchange.
	StreamWindow = 64 << 10
)

// Message writes request seq of connection conn into dst[:MsgSize]: the
// sequence number, the connection number, then filler that depends on both,
// so that a reply delivered to the wrong connection or out of order fails
// the comparison.
func Message(dst []byte, conn uint32, seq uint64) {
	_ = dst[MsgSize-1]
	binary.LittleEndian.PutUint64(dst[0:], seq)
	binary.LittleEndian.PutUint32(dst[8:], conn)
	x := uint32(seq)*2654435761 ^ conn*40503
	for i := 12; i < MsgSize; i++ {
		x = x*1664525 + 1013904223
		dst[i] = byte(x >> 24)
	}
}

// patternLen is prime, so that a stream's offsets do not line up with the
// chunk and buffer sizes, which are powers of two.
const patternLen = 65521

// pattern holds patternLen pseudo-random bytes followed by a copy of its
// first StreamChunk bytes, so that any StreamChunk-long window is contiguous.
var pattern = func() []byte {
	r := rand.New(rand.NewPCG(1, 2))
	p := make([]byte, patternLen+StreamChunk)
	for i := range patternLen {
		p[i] = byte(r.Uint32())
	}
	copy(p[patternLen:], p[:StreamChunk])
	return p
}()

// Stream returns the n ≤ StreamChunk bytes of connection conn's stream
// starting at offset off. The slice aliases shared memory: never write it.
func Stream(conn uint32, off uint64, n int) []byte {
	if n > StreamChunk {
		panic(fmt.Sprintf("echo.Stream: %d bytes asked, at most %d", n, StreamChunk))
	}
	i := (off + uint64(conn)*7919) % patternLen
	return pattern[i : i+uint64(n)]
}
