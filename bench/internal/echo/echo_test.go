package echo_test

import (
	"bytes"
	"testing"

	"github.com/coopgo/coop/bench/internal/echo"
)

func TestMessagesDiffer(t *testing.T) {
	var a, b [echo.MsgSize]byte
	echo.Message(a[:], 1, 7)
	for _, c := range []struct {
		conn uint32
		seq  uint64
	}{{1, 8}, {2, 7}, {0, 7}} {
		echo.Message(b[:], c.conn, c.seq)
		if bytes.Equal(a[:], b[:]) {
			t.Errorf("Message(1, 7) == Message(%d, %d)", c.conn, c.seq)
		}
	}
}

func TestStreamIsContiguousAcrossWrap(t *testing.T) {
	// Reading the stream in 1,000-byte steps and in one StreamChunk must
	// agree, also across the pattern's wrap-around.
	for _, off := range []uint64{0, 65000, 1 << 40} {
		whole := echo.Stream(3, off, echo.StreamChunk)
		for i := 0; i+1000 <= echo.StreamChunk; i += 1000 {
			if got := echo.Stream(3, off+uint64(i), 1000); !bytes.Equal(got, whole[i:i+1000]) {
				t.Fatalf("off %d: step at %d differs", off, i)
			}
		}
	}
}
