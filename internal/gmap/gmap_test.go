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
	if tab := m.tab.Load(); len(tab.slots) > 1024 {
		t.Errorf("table grew to %d slots for 1 live key", len(tab.slots))
	}
}

// TestChurnAtScale: with 10,000 live keys and connections coming and going
// (each new key stored, an old one deleted), the table stays dense and
// rebuilds stay rare: a rebuild is O(n), so one every few insertions would
// be a storm.
func TestChurnAtScale(t *testing.T) {
	var m Map[val]
	const live, churn = 10000, 200000
	key := func(i int) uintptr { return uintptr(i+1) * 448 }
	for i := range live {
		m.Store(key(i), &val{key(i)})
	}
	grown := m.rebuilds
	for i := range churn {
		m.Delete(key(i))
		m.Store(key(live+i), &val{key(live + i)})
	}
	if n := m.Len(); n != live {
		t.Fatalf("Len = %d, want %d", n, live)
	}
	for i := churn; i < churn+live; i++ {
		if v := m.Load(key(i)); v == nil || v.g != key(i) {
			t.Fatalf("key %d lost", i)
		}
	}
	slots := len(m.tab.Load().slots)
	if perKey := float64(slots*16) / live; perKey > 16*16/3.0 {
		t.Errorf("%d slots of 16 bytes for %d keys: %.0f bytes a key, want at most %.0f", slots, live, perKey, 16*16/3.0)
	}
	// Each rebuild leaves at least 3/8 of the table to fill: with 32,768
	// slots, one per 12,288 insertions at most.
	if r, most := m.rebuilds-grown, churn/(3*slots/8)+1; r > most {
		t.Errorf("%d rebuilds for %d insertions into a table of %d slots, want at most %d", r, churn, slots, most)
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
