//go:build cgo && linux

package swapctx

/*
#include <stdlib.h>
#include <time.h>
#include <ucontext.h>

static ucontext_t uc_host, uc_peer;
static char *peer_stack;

// peer swaps straight back, forever: every swapcontext in pingpong is
// answered by one here.
static void peer(void) {
	for (;;) swapcontext(&uc_peer, &uc_host);
}

// pingpong makes k round trips (2k switches) and returns their time in ns.
static long long pingpong(long k) {
	if (peer_stack == NULL) {
		peer_stack = malloc(1 << 16);
		if (peer_stack == NULL) return -1;
	}
	if (getcontext(&uc_peer) != 0) return -1;
	uc_peer.uc_stack.ss_sp = peer_stack;
	uc_peer.uc_stack.ss_size = 1 << 16;
	uc_peer.uc_link = NULL;
	makecontext(&uc_peer, peer, 0);
	swapcontext(&uc_host, &uc_peer); // first entry, untimed
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (long i = 0; i < k; i++) swapcontext(&uc_host, &uc_peer);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (long long)(t1.tv_sec - t0.tv_sec) * 1000000000LL + (t1.tv_nsec - t0.tv_nsec);
}
*/
import "C"

import (
	"errors"
	"runtime"
)

// Available reports whether the package was built with cgo.
const Available = true

// Reason is empty when Available.
const Reason = ""

// PingPong makes k round trips between two glibc contexts in one cgo call,
// 2k switches, and returns their time in nanoseconds, measured in C.
func PingPong(k int) (int64, error) {
	// The peer context runs on a C stack on this thread: keep the thread.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	ns := int64(C.pingpong(C.long(k)))
	if ns < 0 {
		return 0, errors.New("swapctx: getcontext or malloc failed")
	}
	return ns, nil
}
