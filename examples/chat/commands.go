package main

import (
	"bytes"
	"sort"
	"strconv"
	"strings"
	"time"
)

// version is what RPL_YOURHOST and RPL_MYINFO report.
const version = "coop-chat-1.0"

// command runs one message of cl.
func (srv *server) command(cl *client, m *message) {
	cmd := string(m.command()) // no allocation: the switch compares bytes
	switch cmd {
	case "PRIVMSG", "NOTICE":
		if cl.registered {
			srv.privmsg(cl, m, cmd == "NOTICE")
			return
		}
	case "PING":
		if m.n == 0 {
			cl.numeric("409", ":No origin specified")
			return
		}
		cl.send([]byte(":" + srv.cfg.name + " PONG " + srv.cfg.name + " :" + string(m.params[0]) + "\r\n"))
		return
	case "PONG":
		return // any input counts as an answer: process noted it
	case "QUIT":
		reason := "Client Quit"
		if m.n > 0 && len(m.params[0]) > 0 {
			reason = "Quit: " + string(m.params[0])
		}
		cl.quit(reason)
		return
	case "CAP":
		srv.capCmd(cl, m)
		return
	case "PASS":
		switch {
		case cl.registered:
			cl.numeric("462", ":You may not reregister")
		case m.n == 0:
			cl.numeric("461", "PASS :Not enough parameters")
		default:
			cl.passOK = srv.cfg.pass == "" || m.param(0) == srv.cfg.pass
		}
		return
	case "NICK":
		srv.nickCmd(cl, m)
		return
	case "USER":
		switch {
		case cl.registered:
			cl.numeric("462", ":You may not reregister")
		case m.n < 4:
			cl.numeric("461", "USER :Not enough parameters")
		default:
			cl.user = userName(m.param(0))
			cl.real = m.param(3)
			srv.register(cl)
		}
		return
	}
	if !cl.registered {
		if cmd == "" || !known[cmd] {
			cl.numeric("421", sanitize(m.raw)+" :Unknown command")
			return
		}
		cl.numeric("451", ":You have not registered")
		return
	}
	switch cmd {
	case "JOIN":
		srv.joinCmd(cl, m)
	case "PART":
		srv.partCmd(cl, m)
	case "NAMES":
		srv.namesCmd(cl, m)
	case "TOPIC":
		srv.topicCmd(cl, m)
	case "MODE":
		srv.modeCmd(cl, m)
	case "WHO":
		srv.whoCmd(cl, m)
	case "WHOIS":
		srv.whoisCmd(cl, m)
	case "KICK":
		srv.kickCmd(cl, m)
	case "MOTD":
		srv.motd(cl)
	case "LUSERS":
		srv.lusers(cl)
	default:
		cl.numeric("421", sanitize(m.raw)+" :Unknown command")
	}
}

// known lists the commands the server understands; before registration
// the others are unknown (421) and these not allowed yet (451).
var known = map[string]bool{
	"JOIN": true, "PART": true, "NAMES": true, "TOPIC": true, "MODE": true, "WHO": true,
	"WHOIS": true, "KICK": true, "MOTD": true, "LUSERS": true, "PRIVMSG": true, "NOTICE": true,
}

// sanitize makes client input safe to quote in a reply line.
func sanitize(b []byte) string {
	return strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return '?'
		}
		return r
	}, string(b))
}

// userName keeps what a USER name may hold (no spaces, '@' or control
// bytes), at most 10 bytes as USERLEN says.
func userName(s string) string {
	b := make([]byte, 0, 10)
	for i := 0; i < len(s) && len(b) < 10; i++ {
		if c := s[i]; c > ' ' && c != '@' && c != 0x7f {
			b = append(b, c)
		}
	}
	if len(b) == 0 {
		return "user"
	}
	return string(b)
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func secs(d time.Duration) string { return itoa(int64(d / time.Second)) }

// capCmd answers IRCv3 capability negotiation, offering no capability:
// a client that asks (CAP LS) waits for CAP END before it registers.
func (srv *server) capCmd(cl *client, m *message) {
	sub := strings.ToUpper(m.param(0))
	head := ":" + srv.cfg.name + " CAP " + cl.name() + " "
	switch sub {
	case "LS":
		if !cl.registered {
			cl.capNeg = true
		}
		cl.send([]byte(head + "LS :\r\n"))
	case "LIST":
		cl.send([]byte(head + "LIST :\r\n"))
	case "REQ":
		cl.send([]byte(head + "NAK :" + m.param(1) + "\r\n"))
	case "END":
		if cl.capNeg {
			cl.capNeg = false
			srv.register(cl)
		}
	case "":
		cl.numeric("461", "CAP :Not enough parameters")
	default:
		cl.numeric("410", sanitize(m.params[0])+" :Invalid CAP command")
	}
}

func (srv *server) nickCmd(cl *client, m *message) {
	if m.n == 0 || len(m.params[0]) == 0 {
		cl.numeric("431", ":No nickname given")
		return
	}
	nick := string(m.params[0])
	if !validNick(nick, srv.cfg.nickLen) {
		cl.numeric("432", sanitize(m.params[0])+" :Erroneous nickname")
		return
	}
	key := fold(nick)
	if other := srv.nicks[key]; other != nil && other != cl {
		cl.numeric("433", nick+" :Nickname is already in use")
		return
	}
	if nick == cl.nick {
		return
	}
	// The nick is taken at once, registered or not, as ngircd does.
	if cl.nick != "" {
		delete(srv.nicks, fold(cl.nick))
	}
	srv.nicks[key] = cl
	if !cl.registered {
		cl.nick = nick
		srv.register(cl)
		return
	}
	line := []byte(":" + cl.prefix + " NICK :" + nick + "\r\n")
	cl.nick = nick
	cl.prefix = nick + "!" + cl.user + "@" + cl.host
	srv.toPeers(cl, line, true)
}

// register completes a registration once NICK and USER are in (and CAP
// negotiation, if any, has ended), and sends the welcome burst.
func (srv *server) register(cl *client) {
	if cl.registered || cl.nick == "" || cl.user == "" || cl.capNeg {
		return
	}
	if !cl.passOK {
		cl.numeric("464", ":Password incorrect")
		cl.quit("Bad password")
		return
	}
	cl.registered = true
	srv.users++
	cl.prefix = cl.nick + "!" + cl.user + "@" + cl.host
	name := srv.cfg.name
	cl.numeric("001", ":Welcome to the Internet Relay Network "+cl.prefix)
	cl.numeric("002", ":Your host is "+name+", running version "+version)
	cl.numeric("003", ":This server was created "+srv.created.UTC().Format(time.RFC1123))
	cl.numeric("004", name+" "+version+" iw ont")
	cl.numeric("005", "CASEMAPPING=rfc1459 CHANTYPES=# CHANNELLEN="+strconv.Itoa(channelLen)+
		" NICKLEN="+strconv.Itoa(srv.cfg.nickLen)+" PREFIX=(o)@ CHANMODES=,,,nt CHANLIMIT=#:"+strconv.Itoa(srv.cfg.maxChannels)+
		" TOPICLEN="+strconv.Itoa(topicLen)+" USERLEN=10 NETWORK="+srv.cfg.network+" :are supported by this server")
	srv.lusers(cl)
	srv.motd(cl)
}

func (srv *server) lusers(cl *client) {
	cl.numeric("251", ":There are "+strconv.Itoa(srv.users)+" users and 0 invisible on 1 servers")
	if unknown := len(srv.clients) - srv.users; unknown > 0 {
		cl.numeric("253", strconv.Itoa(unknown)+" :unknown connection(s)")
	}
	cl.numeric("254", strconv.Itoa(len(srv.channels))+" :channels formed")
	cl.numeric("255", ":I have "+strconv.Itoa(len(srv.clients))+" clients and 0 servers")
}

func (srv *server) motd(cl *client) {
	if srv.cfg.motd == nil {
		cl.numeric("422", ":MOTD File is missing")
		return
	}
	cl.numeric("375", ":- "+srv.cfg.name+" Message of the day - ")
	for _, l := range srv.cfg.motd {
		cl.numeric("372", ":- "+l)
	}
	cl.numeric("376", ":End of MOTD command")
}

// targets splits a comma-separated list parameter.
func targets(p []byte) []string {
	if len(p) == 0 {
		return nil
	}
	return strings.Split(string(p), ",")
}

func (srv *server) joinCmd(cl *client, m *message) {
	if m.n == 0 {
		cl.numeric("461", "JOIN :Not enough parameters")
		return
	}
	if string(m.params[0]) == "0" {
		// JOIN 0: leave every channel, in name order.
		chs := make([]*channel, 0, len(cl.channels))
		for ch := range cl.channels {
			chs = append(chs, ch)
		}
		sort.Slice(chs, func(i, j int) bool { return chs[i].name < chs[j].name })
		for _, ch := range chs {
			srv.toChannel(ch, []byte(":"+cl.prefix+" PART "+ch.name+"\r\n"), nil)
			srv.leave(cl, ch)
		}
		return
	}
	for _, name := range targets(m.params[0]) {
		if !validChannel(name) {
			cl.numeric("403", sanitize([]byte(name))+" :No such channel")
			continue
		}
		srv.join(cl, name)
	}
}

func (srv *server) partCmd(cl *client, m *message) {
	if m.n == 0 {
		cl.numeric("461", "PART :Not enough parameters")
		return
	}
	reason := ""
	if m.n > 1 {
		reason = " :" + string(m.params[1])
	}
	for _, name := range targets(m.params[0]) {
		ch := srv.channels[fold(name)]
		if ch == nil {
			cl.numeric("403", sanitize([]byte(name))+" :No such channel")
			continue
		}
		if _, in := ch.members[cl]; !in {
			cl.numeric("442", ch.name+" :You're not on that channel")
			continue
		}
		srv.toChannel(ch, []byte(":"+cl.prefix+" PART "+ch.name+reason+"\r\n"), nil)
		srv.leave(cl, ch)
	}
}

// privmsg relays PRIVMSG and NOTICE: the hot path of an IRC server. The
// line is built once, in the server's scratch buffer, and copied into
// each recipient's output buffer. NOTICE never gets an automatic reply
// (RFC 2812 3.3.2) but for a line that would be too long to relay.
func (srv *server) privmsg(cl *client, m *message, notice bool) {
	cmd := "PRIVMSG"
	if notice {
		cmd = "NOTICE"
	}
	switch {
	case m.n == 0 || len(m.params[0]) == 0:
		if !notice {
			cl.numeric("411", ":No recipient given ("+cmd+")")
		}
		return
	case m.n < 2 || len(m.params[1]) == 0:
		if !notice {
			cl.numeric("412", ":No text to send")
		}
		return
	}
	text := m.params[1]
	for rest := m.params[0]; len(rest) > 0; {
		target := rest
		if i := bytes.IndexByte(rest, ','); i >= 0 {
			target, rest = rest[:i], rest[i+1:]
		} else {
			rest = nil
		}
		line := append(srv.scratch[:0], ':')
		line = append(line, cl.prefix...)
		line = append(line, ' ')
		line = append(line, cmd...)
		line = append(line, ' ')
		line = append(line, target...)
		line = append(line, " :"...)
		line = append(line, text...)
		line = append(line, "\r\n"...)
		srv.scratch = line
		if len(line) > maxLine {
			// With the sender's prefix the line would pass the limit:
			// say so rather than cut it.
			cl.numeric("417", ":Input line was too long")
			return
		}
		if len(target) > 0 && target[0] == '#' {
			ch := srv.channelNamed(target)
			if ch == nil {
				if !notice {
					cl.numeric("401", sanitize(target)+" :No such nick/channel")
				}
				continue
			}
			if _, in := ch.members[cl]; !in && ch.noExternal {
				if !notice {
					cl.numeric("404", ch.name+" :Cannot send to channel")
				}
				continue
			}
			srv.toChannel(ch, line, cl)
			continue
		}
		to := srv.nickNamed(target)
		if to == nil || !to.registered {
			if !notice {
				cl.numeric("401", sanitize(target)+" :No such nick/channel")
			}
			continue
		}
		to.send(line)
	}
}

func (srv *server) namesCmd(cl *client, m *message) {
	if m.n == 0 {
		for _, ch := range srv.channels {
			srv.namesOnly(cl, ch)
		}
		cl.numeric("366", "* :End of NAMES list")
		return
	}
	for _, name := range targets(m.params[0]) {
		if ch := srv.channels[fold(name)]; ch != nil {
			srv.names(cl, ch)
		} else {
			cl.numeric("366", sanitize([]byte(name))+" :End of NAMES list")
		}
	}
}

// topicLen is the longest topic (TOPICLEN); a longer one is refused.
const topicLen = 390

func (srv *server) topicCmd(cl *client, m *message) {
	if m.n == 0 {
		cl.numeric("461", "TOPIC :Not enough parameters")
		return
	}
	ch := srv.channels[fold(m.param(0))]
	if ch == nil {
		cl.numeric("403", sanitize(m.params[0])+" :No such channel")
		return
	}
	op, in := ch.members[cl]
	if !in {
		cl.numeric("442", ch.name+" :You're not on that channel")
		return
	}
	if m.n == 1 {
		if ch.topic == "" {
			cl.numeric("331", ch.name+" :No topic is set")
		} else {
			srv.topicReply(cl, ch)
		}
		return
	}
	if ch.topicOps && !op {
		cl.numeric("482", ch.name+" :You're not channel operator")
		return
	}
	topic := m.param(1)
	if len(topic) > topicLen {
		cl.numeric("417", ":Input line was too long")
		return
	}
	ch.topic, ch.topicBy, ch.topicAt = topic, cl.prefix, time.Now()
	srv.toChannel(ch, []byte(":"+cl.prefix+" TOPIC "+ch.name+" :"+topic+"\r\n"), nil)
}

func (srv *server) modeCmd(cl *client, m *message) {
	if m.n == 0 {
		cl.numeric("461", "MODE :Not enough parameters")
		return
	}
	target := m.param(0)
	if !isChannel(target) {
		srv.userMode(cl, m)
		return
	}
	ch := srv.channels[fold(target)]
	if ch == nil {
		cl.numeric("403", sanitize(m.params[0])+" :No such channel")
		return
	}
	if m.n == 1 {
		cl.numeric("324", ch.name+" "+ch.modes())
		return
	}
	modes := m.param(1)
	// A list query (bans, exceptions, invitations): the lists are empty.
	switch strings.TrimPrefix(modes, "+") {
	case "b":
		cl.numeric("368", ch.name+" :End of channel ban list")
		return
	case "e":
		cl.numeric("349", ch.name+" :End of channel exception list")
		return
	case "I":
		cl.numeric("347", ch.name+" :End of channel invite list")
		return
	}
	op, in := ch.members[cl]
	if !op {
		if !in {
			cl.numeric("442", ch.name+" :You're not on that channel")
		} else {
			cl.numeric("482", ch.name+" :You're not channel operator")
		}
		return
	}
	add, arg := true, 2
	var applied strings.Builder
	var args []string
	lastSign := byte(0)
	note := func(sign byte, c byte) {
		if sign != lastSign {
			applied.WriteByte(sign)
			lastSign = sign
		}
		applied.WriteByte(c)
	}
	sign := func() byte {
		if add {
			return '+'
		}
		return '-'
	}
	for i := 0; i < len(modes); i++ {
		switch c := modes[i]; c {
		case '+', '-':
			add = c == '+'
		case 't':
			if ch.topicOps != add {
				ch.topicOps = add
				note(sign(), c)
			}
		case 'n':
			if ch.noExternal != add {
				ch.noExternal = add
				note(sign(), c)
			}
		case 'o':
			if arg >= m.n {
				cl.numeric("461", "MODE :Not enough parameters")
				continue
			}
			nick := m.param(arg)
			arg++
			who := srv.nicks[fold(nick)]
			if who == nil || !who.registered {
				cl.numeric("401", sanitize([]byte(nick))+" :No such nick/channel")
				continue
			}
			isOp, there := ch.members[who]
			if !there {
				cl.numeric("441", who.nick+" "+ch.name+" :They aren't on that channel")
				continue
			}
			if isOp != add {
				ch.members[who] = add
				note(sign(), c)
				args = append(args, who.nick)
			}
		default:
			cl.numeric("472", string(c)+" :is unknown mode char to me for "+ch.name)
		}
	}
	if applied.Len() > 0 {
		line := ":" + cl.prefix + " MODE " + ch.name + " " + applied.String()
		for _, a := range args {
			line += " " + a
		}
		srv.toChannel(ch, []byte(line+"\r\n"), nil)
	}
}

// userMode handles MODE on a nick: a client may query and change its own
// i and w modes, which change nothing else here.
func (srv *server) userMode(cl *client, m *message) {
	who := srv.nicks[fold(m.param(0))]
	if who == nil || !who.registered {
		cl.numeric("401", sanitize(m.params[0])+" :No such nick/channel")
		return
	}
	if who != cl {
		cl.numeric("502", ":Can't change mode for other users")
		return
	}
	if m.n == 1 {
		cl.numeric("221", "+"+cl.modes)
		return
	}
	have := map[byte]bool{}
	for i := 0; i < len(cl.modes); i++ {
		have[cl.modes[i]] = true
	}
	add := true
	var applied strings.Builder
	lastSign := byte(0)
	unknown := false
	for _, c := range []byte(m.param(1)) {
		switch c {
		case '+', '-':
			add = c == '+'
		case 'i', 'w':
			if have[c] != add {
				have[c] = add
				sign := byte('-')
				if add {
					sign = '+'
				}
				if sign != lastSign {
					applied.WriteByte(sign)
					lastSign = sign
				}
				applied.WriteByte(c)
			}
		default:
			unknown = true
		}
	}
	if unknown {
		cl.numeric("501", ":Unknown MODE flag")
	}
	modes := ""
	for _, c := range "iw" {
		if have[byte(c)] {
			modes += string(c)
		}
	}
	cl.modes = modes
	if applied.Len() > 0 {
		cl.send([]byte(":" + cl.prefix + " MODE " + cl.nick + " :" + applied.String() + "\r\n"))
	}
}

// whoCmd answers WHO for a channel (its members) or a nick.
func (srv *server) whoCmd(cl *client, m *message) {
	mask := m.param(0)
	if mask == "" {
		mask = "*"
	}
	reply := func(chName string, who *client, op bool) {
		flags := "H"
		if op {
			flags += "@"
		}
		cl.numeric("352", chName+" "+who.user+" "+who.host+" "+srv.cfg.name+" "+who.nick+" "+flags+" :0 "+who.real)
	}
	if isChannel(mask) {
		if ch := srv.channels[fold(mask)]; ch != nil {
			nicks := make([]*client, 0, len(ch.members))
			for who := range ch.members {
				nicks = append(nicks, who)
			}
			sort.Slice(nicks, func(i, j int) bool { return nicks[i].nick < nicks[j].nick })
			for _, who := range nicks {
				reply(ch.name, who, ch.members[who])
			}
		}
	} else if who := srv.nicks[fold(mask)]; who != nil && who.registered {
		reply("*", who, false)
	}
	cl.numeric("315", sanitize([]byte(mask))+" :End of WHO list")
}

func (srv *server) whoisCmd(cl *client, m *message) {
	if m.n == 0 {
		cl.numeric("431", ":No nickname given")
		return
	}
	nick := m.param(m.n - 1) // WHOIS [server] nick
	for _, n := range strings.Split(nick, ",") {
		who := srv.nicks[fold(n)]
		if who == nil || !who.registered {
			cl.numeric("401", sanitize([]byte(n))+" :No such nick/channel")
			cl.numeric("318", sanitize([]byte(n))+" :End of WHOIS list")
			continue
		}
		cl.numeric("311", who.nick+" "+who.user+" "+who.host+" * :"+who.real)
		if len(who.channels) > 0 {
			var names []string
			for ch := range who.channels {
				if ch.members[who] {
					names = append(names, "@"+ch.name)
				} else {
					names = append(names, ch.name)
				}
			}
			sort.Strings(names)
			cl.numeric("319", who.nick+" :"+strings.Join(names, " "))
		}
		cl.numeric("312", who.nick+" "+srv.cfg.name+" :coop chat")
		idle := int64(srv.s.Now().Sub(who.lastInput) / time.Second)
		cl.numeric("317", who.nick+" "+itoa(idle)+" "+itoa(who.since.Unix())+" :seconds idle, signon time")
		cl.numeric("318", who.nick+" :End of WHOIS list")
	}
}

func (srv *server) kickCmd(cl *client, m *message) {
	if m.n < 2 {
		cl.numeric("461", "KICK :Not enough parameters")
		return
	}
	ch := srv.channels[fold(m.param(0))]
	if ch == nil {
		cl.numeric("403", sanitize(m.params[0])+" :No such channel")
		return
	}
	op, in := ch.members[cl]
	switch {
	case !in:
		cl.numeric("442", ch.name+" :You're not on that channel")
		return
	case !op:
		cl.numeric("482", ch.name+" :You're not channel operator")
		return
	}
	reason := cl.nick
	if m.n > 2 && len(m.params[2]) > 0 {
		reason = m.param(2)
	}
	for _, nick := range targets(m.params[1]) {
		who := srv.nicks[fold(nick)]
		if who == nil || !who.registered {
			cl.numeric("401", sanitize([]byte(nick))+" :No such nick/channel")
			continue
		}
		if _, there := ch.members[who]; !there {
			cl.numeric("441", who.nick+" "+ch.name+" :They aren't on that channel")
			continue
		}
		srv.toChannel(ch, []byte(":"+cl.prefix+" KICK "+ch.name+" "+who.nick+" :"+reason+"\r\n"), nil)
		srv.leave(who, ch)
		if len(ch.members) == 0 {
			return
		}
	}
}
