package sched_test

import (
	"testing"
	"time"

	"github.com/coopgo/coop/sched"
	"golang.org/x/sys/unix"
)

func TestSmoke(t *testing.T) {
	s := sched.New()
	var trace []string
	s.Go(func() {
		a := s.Go(func() { trace = append(trace, "a1"); sched.Yield(); trace = append(trace, "a2") })
		b := s.Go(func() { trace = append(trace, "b1"); sched.Sleep(10 * time.Millisecond); trace = append(trace, "b2") })
		a.Wait()
		b.Wait()
		trace = append(trace, "main")
	})
	if err := s.Run(); err != nil {
		t.Fatal(err)
	}
	t.Log(trace)
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_NONBLOCK|unix.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	s = sched.New()
	r, err := s.Register(p[0])
	if err != nil {
		t.Fatal(err)
	}
	w, err := s.Register(p[1])
	if err != nil {
		t.Fatal(err)
	}
	s.Go(func() {
		buf := make([]byte, 10)
		n, err := r.Read(buf)
		t.Log("read", n, err, string(buf[:n]))
		r.Close()
		w.Close()
	})
	s.Go(func() {
		sched.Sleep(5 * time.Millisecond)
		w.Write([]byte("hello"))
	})
	if err := s.Run(); err != nil {
		t.Fatal(err)
	}
	s = sched.New()
	s.Go(func() { var m chan int; _ = m; sched.Current().Wait() })
	err = s.Run()
	t.Log(err)
}
