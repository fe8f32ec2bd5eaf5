package gmap

import (
	"sync"
	"testing"
)

type val struct{ g uintptr }

// Each goroutine stores, loads and deletes only its own key, which is the
// map's contract; many do so at once, forcing rebuilds under readers.
func TestOwnKeys(t *testing.T) {
	var m Map[val]
	var wg sync.WaitGroup
	for w := range 16 {
		wg.Go(func() {
			for i := range 2000 {
				g := uintptr(w*100000+i)*64 + 0x1000
				v := &val{g}
				if m.Load(g) != nil {
					t.Errorf("key %x present before Store", g)
					return
				}
				m.Store(g, v)
				if got := m.Load(g); got != v {
					t.Errorf("Load(%x) = %v, want %v", g, got, v)
					return
				}
				if i%3 != 0 {
					m.Delete(g)
					if m.Load(g) != nil {
						t.Errorf("key %x present after Delete", g)
						return
					}
				}
			}
		})
	}
	wg.Wait()
	if n, want := m.Len(), 16*667; n != want {
		t.Errorf("Len = %d, want %d", n, want)
	}
}

// Deleting and re-storing keys leaves tombstones; the table must keep
// finding keys and must not fill up with them.
func TestTombstoneChurn(t *testing.T) {
	var m Map[val]
	keep := &val{1}
	m.Store(0x5000, keep)
	for i := range 100000 {
		g := uintptr(0x10000 + (i%50)*64)
		m.Store(g, &val{g})
		m.Delete(g)
	}
	if m.Load(0x5000) != keep {
		t.Fatal("long-lived key lost")
	}
	if tab := m.tab.Load(); len(tab.keys) > 1024 {
		t.Errorf("table grew to %d slots for 1 live key", len(tab.keys))
	}
}

func BenchmarkLoad(b *testing.B) {
	var m Map[val]
	for i := range 1000 {
		g := uintptr(i+1) * 448
		m.Store(g, &val{g})
	}
	g := uintptr(500) * 448
	for b.Loop() {
		if m.Load(g) == nil {
			b.Fatal("missing")
		}
	}
}
