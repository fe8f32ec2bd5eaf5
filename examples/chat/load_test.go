package main

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestManyClients runs 1,000 scripted clients in 10 channels of 100.
// Every client sends perUser messages to its channel; every member must
// receive each message of each other member exactly once, and those of
// one sender in the order sent.
func TestManyClients(t *testing.T) {
	modes(t, func(t *testing.T, mode string) {
		const (
			clients  = 1000
			channels = 10
			perUser  = 3
		)
		s := start(t, mode)
		var wg, joined, counted sync.WaitGroup
		joined.Add(clients)
		counted.Add(clients)
		for i := range clients {
			wg.Add(1)
			go func() {
				defer wg.Done()
				// A client that fails still passes the barriers, so that
				// the others do not wait for it forever.
				var passedJoin, passedCount bool
				defer func() {
					if !passedJoin {
						joined.Done()
					}
					if !passedCount {
						counted.Done()
					}
				}()
				t := goT{t}
				nick := "u" + strconv.Itoa(i)
				ch := "#r" + strconv.Itoa(i%channels)
				u := login(t, s.Addr, nick)
				seen := map[string]bool{}
				for _, n := range u.join(ch) {
					seen[strings.TrimPrefix(n, "@")] = true
				}
				passedJoin = true
				joined.Done()
				joined.Wait()
				// Each phase gets connect's 60 s anew: the first clients
				// wait at the barrier for the last one's login, which
				// took most of a minute under a loaded -race run.
				u.c.SetDeadline(time.Now().Add(60 * time.Second))
				for k := range perUser {
					u.send(fmt.Sprintf("PRIVMSG %s :%d %d", ch, i, k))
				}
				// next[j] is the number of sender j's messages seen.
				next := map[int]int{}
				want := (clients/channels - 1) * perUser
				for got := 0; got < want; {
					l := u.line()
					if strings.HasSuffix(l, " JOIN "+ch) {
						seen[strings.TrimPrefix(strings.SplitN(l, "!", 2)[0], ":")] = true
						continue
					}
					j, k, from, ok := parseMsg(l, ch)
					if !ok || !strings.HasPrefix(from, "u"+strconv.Itoa(j)+"!") {
						t.Errorf("%s: unexpected %q", nick, l)
						return
					}
					if j%channels != i%channels || j == i || k != next[j] {
						t.Errorf("%s: got %q; want message %d of u%d next (once each, in order)", nick, l, next[j], j)
						return
					}
					next[j]++
					got++
				}
				for j := i % channels; j < clients; j += channels {
					if !seen["u"+strconv.Itoa(j)] {
						t.Errorf("%s: never saw u%d in %s", nick, j, ch)
					}
				}
				passedCount = true
				counted.Done()
				counted.Wait()
				u.c.SetDeadline(time.Now().Add(60 * time.Second))
				// Nothing more was queued for us: the next line is the PONG.
				u.send("PING :end")
				if l := u.line(); l != ":coop.chat PONG coop.chat :end" {
					t.Errorf("%s: after all messages, got %q", nick, l)
				}
			}()
		}
		wg.Wait()
	})
}

// parseMsg reads ":FROM PRIVMSG ch :J K", a line of TestManyClients,
// without fmt.Sscanf, which took a fifth of the test's CPU under -race.
func parseMsg(l, ch string) (j, k int, from string, ok bool) {
	rest, ok := strings.CutPrefix(l, ":")
	if !ok {
		return 0, 0, "", false
	}
	from, text, ok := strings.Cut(rest, " PRIVMSG "+ch+" :")
	if !ok || from == "" || strings.Contains(from, " ") {
		return 0, 0, "", false
	}
	js, ks, ok := strings.Cut(text, " ")
	if !ok {
		return 0, 0, "", false
	}
	j, errJ := strconv.Atoi(js)
	k, errK := strconv.Atoi(ks)
	return j, k, from, errJ == nil && errK == nil
}
