//go:build linux

package sched

import (
	"errors"
	"os"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// TestPollErrorShape: a failed wait of the poller reaches Run as one
// *os.SyscallError naming the system call that failed, around the errno,
// as the standard library layers its errors. It used to be wrapped twice
// ("poll: epoll_wait: ..."), under a name that was no system call's.
//
// The poller's epoll descriptor is replaced, from a task, by a pipe's:
// every epoll_pwait and epoll_pwait2 on it then fails with EINVAL.
func TestPollErrorShape(t *testing.T) {
	for _, tt := range []struct {
		name     string
		register bool // with a descriptor registered, wait polls without sleeping first
	}{
		{"sleep", false},
		{"nonblocking", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var p [2]int
			if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				unix.Close(p[0])
				unix.Close(p[1])
			})
			s := New(WithKeepAlive())
			s.Go(func() {
				if tt.register {
					if _, err := s.Register(p[1]); err != nil {
						t.Error(err)
					}
				}
				if err := unix.Dup3(p[0], s.poller.epfd, unix.O_CLOEXEC); err != nil {
					t.Error(err)
				}
			})
			err := s.Run()
			want := "epoll_pwait"
			if !tt.register && !s.poller.ms {
				want = "epoll_pwait2" // the sleep's system call, where the kernel has it
			}
			se, ok := err.(*os.SyscallError)
			if !ok || se.Syscall != want || se.Err != syscall.EINVAL || !errors.Is(err, syscall.EINVAL) {
				t.Fatalf("Run: %v (%#v), want an *os.SyscallError of %s around EINVAL, with nothing around it", err, err, want)
			}
		})
	}
}
