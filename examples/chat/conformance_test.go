package main

import (
	"strings"
	"testing"
)

// A step of a conformance script: one user sends a line, and each user
// named in want reads exactly those lines next ("S" stands for the
// server's prefix ":coop.chat", "A", "B" and "C" for the prefixes of
// alice, bob and carol).
type step struct {
	who, send string
	want      map[string][]string
}

func expand(s string) string {
	r := strings.NewReplacer("S ", ":coop.chat ", "A ", ":alice!alice@127.0.0.1 ", "B ", ":bob!bob@127.0.0.1 ", "C ", ":carol!carol@127.0.0.1 ")
	if len(s) > 1 && s[1] == ' ' {
		return r.Replace(s[:2]) + s[2:]
	}
	return s
}

// runScript plays steps, reading every expected line; a PING at the end
// checks that nothing else was sent to anyone.
func runScript(t *testing.T, users map[string]*user, steps []step) {
	t.Helper()
	for i, st := range steps {
		users[st.who].send(st.send)
		for who, lines := range st.want {
			u := users[who]
			for _, w := range lines {
				if got, want := u.line(), expand(w); got != want {
					t.Fatalf("step %d (%s: %q): %s got %q, want %q", i, st.who, st.send, who, got, want)
				}
			}
		}
	}
	for name, u := range users {
		u.send("PING :end")
		if got := u.line(); got != ":coop.chat PONG coop.chat :end" {
			t.Errorf("%s: unexpected line after the script: %q", name, got)
		}
	}
}

// TestConformance checks the numerics and relayed messages of RFC 2812
// that clients depend on, command by command.
func TestConformance(t *testing.T) {
	modes(t, func(t *testing.T, mode string) {
		s := start(t, mode)
		a := login(t, s.Addr, "alice")
		b := login(t, s.Addr, "bob")
		c := login(t, s.Addr, "carol")
		a.join("#a")
		b.join("#a")
		a.expect(":" + b.prefix() + " JOIN #a")
		users := map[string]*user{"alice": a, "bob": b, "carol": c}
		runScript(t, users, []step{
			// Unknown commands, missing parameters, re-registration.
			{"alice", "FROB x", map[string][]string{"alice": {"S 421 alice FROB :Unknown command"}}},
			{"alice", "JOIN", map[string][]string{"alice": {"S 461 alice JOIN :Not enough parameters"}}},
			{"alice", "USER a 0 * :x", map[string][]string{"alice": {"S 462 alice :You may not reregister"}}},
			{"alice", "PASS secret", map[string][]string{"alice": {"S 462 alice :You may not reregister"}}},
			{"alice", "PING", map[string][]string{"alice": {"S 409 alice :No origin specified"}}},
			// Nicks: 431, 432, 433 (rfc1459 case mapping: {} are [] folded).
			{"alice", "NICK", map[string][]string{"alice": {"S 431 alice :No nickname given"}}},
			{"alice", "NICK 9lives", map[string][]string{"alice": {"S 432 alice 9lives :Erroneous nickname"}}},
			{"alice", "NICK BOB", map[string][]string{"alice": {"S 433 alice BOB :Nickname is already in use"}}},
			{"carol", "NICK c{a}", map[string][]string{"carol": {"C NICK :c{a}"}}},
			{"alice", "NICK C[A]", map[string][]string{"alice": {"S 433 alice C[A] :Nickname is already in use"}}},
			{"carol", "NICK carol", map[string][]string{"carol": {":c{a}!carol@127.0.0.1 NICK :carol"}}},
			// Messages: 401, 404 (+n), 411, 412; NOTICE gets no errors.
			{"alice", "PRIVMSG nobody :hi", map[string][]string{"alice": {"S 401 alice nobody :No such nick/channel"}}},
			{"alice", "PRIVMSG #nowhere :hi", map[string][]string{"alice": {"S 401 alice #nowhere :No such nick/channel"}}},
			{"carol", "PRIVMSG #a :from outside", map[string][]string{"carol": {"S 404 carol #a :Cannot send to channel"}}},
			{"carol", "NOTICE #a :from outside", nil},
			{"alice", "PRIVMSG", map[string][]string{"alice": {"S 411 alice :No recipient given (PRIVMSG)"}}},
			{"alice", "PRIVMSG bob", map[string][]string{"alice": {"S 412 alice :No text to send"}}},
			{"alice", "PRIVMSG #A :hello channel", map[string][]string{"bob": {"A PRIVMSG #A :hello channel"}}},
			{"alice", "PRIVMSG Bob,carol :hello you", map[string][]string{"bob": {"A PRIVMSG Bob :hello you"}, "carol": {"A PRIVMSG carol :hello you"}}},
			{"bob", "NOTICE alice :psst", map[string][]string{"alice": {"B NOTICE alice :psst"}}},
			// Channels: 403, 442, 482 (bob is no operator), 441.
			{"alice", "JOIN nohash", map[string][]string{"alice": {"S 403 alice nohash :No such channel"}}},
			{"alice", "PART #nowhere", map[string][]string{"alice": {"S 403 alice #nowhere :No such channel"}}},
			{"carol", "PART #a", map[string][]string{"carol": {"S 442 carol #a :You're not on that channel"}}},
			{"carol", "TOPIC #a", map[string][]string{"carol": {"S 442 carol #a :You're not on that channel"}}},
			{"bob", "TOPIC #a :bob's topic", map[string][]string{"bob": {"S 482 bob #a :You're not channel operator"}}},
			{"bob", "MODE #a +o bob", map[string][]string{"bob": {"S 482 bob #a :You're not channel operator"}}},
			{"bob", "KICK #a alice", map[string][]string{"bob": {"S 482 bob #a :You're not channel operator"}}},
			{"alice", "KICK #a carol", map[string][]string{"alice": {"S 441 alice carol #a :They aren't on that channel"}}},
			{"alice", "MODE #a +x", map[string][]string{"alice": {"S 472 alice x :is unknown mode char to me for #a"}}},
			// Channel modes and topic.
			{"alice", "MODE #a", map[string][]string{"alice": {"S 324 alice #a +nt"}}},
			{"alice", "TOPIC #a", map[string][]string{"alice": {"S 331 alice #a :No topic is set"}}},
			{"alice", "TOPIC #a :the topic", map[string][]string{"alice": {"A TOPIC #a :the topic"}, "bob": {"A TOPIC #a :the topic"}}},
			{"alice", "MODE #a -t", map[string][]string{"alice": {"A MODE #a -t"}, "bob": {"A MODE #a -t"}}},
			{"bob", "TOPIC #a :bob's topic", map[string][]string{"alice": {"B TOPIC #a :bob's topic"}, "bob": {"B TOPIC #a :bob's topic"}}},
			{"alice", "MODE #a +o-n bob", map[string][]string{"alice": {"A MODE #a +o-n bob"}, "bob": {"A MODE #a +o-n bob"}}},
			{"carol", "PRIVMSG #a :now allowed", map[string][]string{"alice": {"C PRIVMSG #a :now allowed"}, "bob": {"C PRIVMSG #a :now allowed"}}},
			{"bob", "MODE #a +tn", map[string][]string{"alice": {"B MODE #a +tn"}, "bob": {"B MODE #a +tn"}}},
			{"alice", "MODE #a b", map[string][]string{"alice": {"S 368 alice #a :End of channel ban list"}}},
			{"alice", "NAMES #a", map[string][]string{"alice": {"S 353 alice = #a :@alice @bob", "S 366 alice #a :End of NAMES list"}}},
			{"alice", "NAMES #none", map[string][]string{"alice": {"S 366 alice #none :End of NAMES list"}}},
			// User modes: 221, 501, 502.
			{"alice", "MODE alice +i", map[string][]string{"alice": {"A MODE alice :+i"}}},
			{"alice", "MODE alice", map[string][]string{"alice": {"S 221 alice +i"}}},
			{"alice", "MODE alice +z", map[string][]string{"alice": {"S 501 alice :Unknown MODE flag"}}},
			{"alice", "MODE bob -i", map[string][]string{"alice": {"S 502 alice :Can't change mode for other users"}}},
			// WHO and WHOIS.
			{"carol", "WHO #a", map[string][]string{"carol": {
				"S 352 carol #a alice 127.0.0.1 coop.chat alice H@ :0 alice Real",
				"S 352 carol #a bob 127.0.0.1 coop.chat bob H@ :0 bob Real",
				"S 315 carol #a :End of WHO list"}}},
			{"carol", "WHO bob", map[string][]string{"carol": {"S 352 carol * bob 127.0.0.1 coop.chat bob H :0 bob Real", "S 315 carol bob :End of WHO list"}}},
			{"carol", "WHOIS nobody", map[string][]string{"carol": {"S 401 carol nobody :No such nick/channel", "S 318 carol nobody :End of WHOIS list"}}},
			{"carol", "WHOIS", map[string][]string{"carol": {"S 431 carol :No nickname given"}}},
			// KICK, PART, JOIN 0.
			{"bob", "KICK #a alice :bye alice", map[string][]string{"alice": {"B KICK #a alice :bye alice"}, "bob": {"B KICK #a alice :bye alice"}}},
			{"alice", "PRIVMSG #a :still here?", map[string][]string{"alice": {"S 404 alice #a :Cannot send to channel"}}},
			{"bob", "JOIN #b,#c", map[string][]string{"bob": {
				"B JOIN #b", "S 353 bob = #b :@bob", "S 366 bob #b :End of NAMES list",
				"B JOIN #c", "S 353 bob = #c :@bob", "S 366 bob #c :End of NAMES list"}}},
			{"bob", "PART #b :done here", map[string][]string{"bob": {"B PART #b :done here"}}},
			{"bob", "JOIN 0", map[string][]string{"bob": {"B PART #a", "B PART #c"}}},
			{"bob", "PART #a", map[string][]string{"bob": {"S 403 bob #a :No such channel"}}},
			// LUSERS and MOTD.
			{"alice", "LUSERS", map[string][]string{"alice": {
				"S 251 alice :There are 3 users and 0 invisible on 1 servers",
				"S 254 alice 0 :channels formed",
				"S 255 alice :I have 3 clients and 0 servers"}}},
			{"alice", "MOTD", map[string][]string{"alice": {
				"S 375 alice :- coop.chat Message of the day - ",
				"S 372 alice :- coop chat: an IRC server on cooperative user-space contexts.",
				"S 372 alice :- Be kind.",
				"S 376 alice :End of MOTD command"}}},
		})
		// QUIT: the peers see it, the client gets ERROR and the close.
		a.join("#q")
		b.join("#q")
		a.expect(":" + b.prefix() + " JOIN #q")
		b.send("QUIT :gone fishing")
		a.expect(":" + b.prefix() + " QUIT :Quit: gone fishing")
		b.expectEnd("ERROR :Closing Link: 127.0.0.1 (Quit: gone fishing)")
	})
}

// TestRegistration checks the welcome burst, 451 before registration,
// CAP negotiation holding registration back, and PASS.
func TestRegistration(t *testing.T) {
	modes(t, func(t *testing.T, mode string) {
		s := start(t, mode, "-pass", "sesame")
		u := connect(t, s.Addr)
		u.send("JOIN #x")
		u.expect(":coop.chat 451 * :You have not registered")
		u.send("FROB")
		u.expect(":coop.chat 421 * FROB :Unknown command")
		u.send("CAP LS 302")
		u.expect(":coop.chat CAP * LS :")
		u.send("PASS sesame")
		u.send("NICK dave")
		u.send("USER d 0 * :Dave D")
		u.send("CAP REQ :multi-prefix")
		u.expect(":coop.chat CAP dave NAK :multi-prefix")
		u.send("CAP END")
		want := []string{
			":coop.chat 001 dave :Welcome to the Internet Relay Network dave!d@127.0.0.1",
			":coop.chat 002 dave :Your host is coop.chat, running version " + version,
		}
		for _, w := range want {
			u.expect(w)
		}
		if l := u.line(); !strings.HasPrefix(l, ":coop.chat 003 dave :This server was created ") {
			t.Errorf("003: %q", l)
		}
		u.expect(":coop.chat 004 dave coop.chat " + version + " iw ont")
		isupport := u.line()
		for _, tok := range []string{" CASEMAPPING=rfc1459 ", " CHANTYPES=# ", " NICKLEN=16 ", " CHANNELLEN=50 ", " PREFIX=(o)@ ", " :are supported by this server"} {
			if !strings.Contains(isupport, tok) || !strings.HasPrefix(isupport, ":coop.chat 005 dave ") {
				t.Errorf("005 %q lacks %q", isupport, tok)
			}
		}
		u.expect(":coop.chat 251 dave :There are 1 users and 0 invisible on 1 servers")
		u.skipTo(":coop.chat 376 dave :End of MOTD command")

		bad := connect(t, s.Addr)
		bad.send("PASS wrong")
		bad.send("NICK eve")
		bad.send("USER e 0 * :Eve")
		bad.expect(":coop.chat 464 eve :Password incorrect")
		bad.expectEnd("ERROR :Closing Link: 127.0.0.1 (Bad password)")
	})
}
