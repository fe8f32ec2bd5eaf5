package main

import (
	"bytes"
	"log"
	"slices"
	"strings"
	"time"

	"github.com/coopgo/coop/sched"
)

// config is what the flags set.
type config struct {
	idle        time.Duration // silence after which the server PINGs a client
	pongTimeout time.Duration // how long a PINGed client has to answer
	sendQ       int           // most bytes queued for a client before it is dropped
	maxLine     int           // longest input line, line end included
	maxRooms    int           // most rooms a client may be in
	maxClients  int
	sndBuf      int // SO_SNDBUF of each client's socket; 0: the system's
}

// A server is the chat's shared state: the nick table and the rooms.
//
// There is no lock anywhere: every session runs on one scheduler, whose
// tasks run one at a time and switch only where they block (reading,
// writing, waiting for work). No command blocks between looking at the
// state and changing it, so each command is atomic with respect to every
// other session, as in a single-threaded event loop — but written as
// straight-line code per client.
type server struct {
	cfg     config
	log     *log.Logger
	s       *sched.Scheduler
	nicks   map[string]*client // by folded nick
	rooms   map[string]*room   // by folded name
	clients map[*client]struct{}
}

// A room is a set of clients talking together; it exists while it has
// members.
type room struct {
	name    string
	members map[*client]struct{}
}

func newServer(cfg config, logger *log.Logger, s *sched.Scheduler) *server {
	return &server{
		cfg:     cfg,
		log:     logger,
		s:       s,
		nicks:   make(map[string]*client),
		rooms:   make(map[string]*room),
		clients: make(map[*client]struct{}),
	}
}

// fold is the case-insensitive form of nicks and room names (ASCII).
func fold(s string) string { return strings.ToLower(s) }

// validNick follows IRC's rules: a letter or one of "[]\`_^{|}" first,
// then also digits and '-'; 1 to 16 bytes.
func validNick(s string) bool {
	if len(s) == 0 || len(s) > 16 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', strings.IndexByte("[]\\`_^{|}", c) >= 0:
		case i > 0 && ('0' <= c && c <= '9' || c == '-'):
		default:
			return false
		}
	}
	return true
}

// validRoom accepts '#' and 1 to 31 more bytes, none of them a space, a
// comma, a colon or a control character.
func validRoom(s string) bool {
	if len(s) < 2 || len(s) > 32 || s[0] != '#' {
		return false
	}
	for i := 1; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c == ',' || c == ':' || c == 0x7f {
			return false
		}
	}
	return true
}

// command runs one input line of cl.
func (srv *server) command(cl *client, line []byte) {
	verb, rest := word(line)
	if len(verb) == 0 {
		return // a blank line
	}
	cmd := strings.ToUpper(string(verb))
	switch cmd {
	case "PING":
		cl.reply("PONG :" + string(trailing(rest)))
		return
	case "PONG":
		return // any input counts as activity: the reader noted it
	case "QUIT":
		msg := string(trailing(rest))
		if msg == "" {
			msg = "Client quit"
		}
		cl.quit("Quit: " + msg)
		return
	case "NICK":
		srv.nick(cl, rest)
		return
	}
	if cl.nick == "" {
		cl.reply("451 * :You have not registered")
		return
	}
	switch cmd {
	case "JOIN":
		srv.join(cl, rest)
	case "PART":
		srv.part(cl, rest)
	case "MSG", "PRIVMSG":
		srv.msg(cl, cmd, rest)
	case "NAMES":
		name, _ := word(rest)
		if len(name) == 0 {
			cl.reply("461 " + cl.nick + " NAMES :Not enough parameters")
			return
		}
		if r := srv.rooms[fold(string(name))]; r != nil {
			srv.names(cl, r)
		} else {
			cl.reply("366 " + cl.nick + " " + string(name) + " :End of NAMES list")
		}
	default:
		cl.reply("421 " + cl.nick + " " + sanitize(cmd) + " :Unknown command")
	}
}

func (srv *server) nick(cl *client, rest []byte) {
	target := cl.nick
	if target == "" {
		target = "*"
	}
	w, _ := word(rest)
	nick := string(w)
	switch {
	case nick == "":
		cl.reply("431 " + target + " :No nickname given")
		return
	case !validNick(nick):
		cl.reply("432 " + target + " " + sanitize(nick) + " :Erroneous nickname")
		return
	}
	if other := srv.nicks[fold(nick)]; other != nil && other != cl {
		cl.reply("433 " + target + " " + nick + " :Nickname is already in use")
		return
	}
	if cl.nick == "" {
		cl.nick = nick
		srv.nicks[fold(nick)] = cl
		cl.reply("001 " + nick + " :Welcome to coop chat, " + nick)
		return
	}
	if nick == cl.nick {
		return
	}
	line := []byte(":" + cl.nick + " NICK " + nick + "\r\n")
	delete(srv.nicks, fold(cl.nick))
	cl.nick = nick
	srv.nicks[fold(nick)] = cl
	srv.toPeers(cl, line, true)
}

func (srv *server) join(cl *client, rest []byte) {
	w, _ := word(rest)
	name := string(w)
	switch {
	case name == "":
		cl.reply("461 " + cl.nick + " JOIN :Not enough parameters")
		return
	case !validRoom(name):
		cl.reply("403 " + cl.nick + " " + sanitize(name) + " :No such channel")
		return
	}
	r := srv.rooms[fold(name)]
	if r == nil {
		r = &room{name: name, members: make(map[*client]struct{})}
		srv.rooms[fold(name)] = r
	}
	if _, in := r.members[cl]; in {
		return
	}
	if len(cl.rooms) >= srv.cfg.maxRooms {
		cl.reply("405 " + cl.nick + " " + name + " :You have joined too many channels")
		if len(r.members) == 0 {
			delete(srv.rooms, fold(name))
		}
		return
	}
	r.members[cl] = struct{}{}
	cl.rooms[r] = struct{}{}
	srv.toRoom(r, []byte(":"+cl.nick+" JOIN "+r.name+"\r\n"), nil)
	srv.names(cl, r)
}

func (srv *server) part(cl *client, rest []byte) {
	w, rest := word(rest)
	name := string(w)
	if name == "" {
		cl.reply("461 " + cl.nick + " PART :Not enough parameters")
		return
	}
	r := srv.rooms[fold(name)]
	if r == nil {
		cl.reply("403 " + cl.nick + " " + sanitize(name) + " :No such channel")
		return
	}
	if _, in := r.members[cl]; !in {
		cl.reply("442 " + cl.nick + " " + r.name + " :You're not on that channel")
		return
	}
	line := ":" + cl.nick + " PART " + r.name
	if reason := trailing(rest); len(reason) > 0 {
		line += " :" + string(reason)
	}
	srv.toRoom(r, []byte(line+"\r\n"), nil)
	srv.leave(cl, r)
}

// msg sends text to a room's other members, or to one client.
func (srv *server) msg(cl *client, cmd string, rest []byte) {
	w, rest := word(rest)
	target := string(w)
	text := trailing(rest)
	switch {
	case target == "":
		cl.reply("411 " + cl.nick + " :No recipient given (" + cmd + ")")
		return
	case len(text) == 0:
		cl.reply("412 " + cl.nick + " :No text to send")
		return
	}
	// A stray CR or NUL inside the text could cut the line short for
	// some clients: blank them.
	if bytes.ContainsAny(text, "\r\x00") {
		text = bytes.Clone(text)
		for i, c := range text {
			if c == '\r' || c == 0 {
				text[i] = ' '
			}
		}
	}
	line := []byte(":" + cl.nick + " MSG " + target + " :" + string(text) + "\r\n")
	if target[0] == '#' {
		r := srv.rooms[fold(target)]
		if r == nil {
			cl.reply("401 " + cl.nick + " " + sanitize(target) + " :No such nick/channel")
			return
		}
		if _, in := r.members[cl]; !in {
			cl.reply("404 " + cl.nick + " " + r.name + " :Cannot send to channel")
			return
		}
		srv.toRoom(r, line, cl)
		return
	}
	to := srv.nicks[fold(target)]
	if to == nil {
		cl.reply("401 " + cl.nick + " " + sanitize(target) + " :No such nick/channel")
		return
	}
	to.send(line)
}

// names lists a room's members to cl, in lines that stay well under the
// line limit.
func (srv *server) names(cl *client, r *room) {
	nicks := make([]string, 0, len(r.members))
	for m := range r.members {
		nicks = append(nicks, m.nick)
	}
	slices.Sort(nicks)
	prefix := "353 " + cl.nick + " = " + r.name + " :"
	var b strings.Builder
	for _, n := range nicks {
		if b.Len() > 0 && len(prefix)+b.Len()+1+len(n) > 400 {
			cl.reply(prefix + b.String())
			b.Reset()
		}
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(n)
	}
	if b.Len() > 0 {
		cl.reply(prefix + b.String())
	}
	cl.reply("366 " + cl.nick + " " + r.name + " :End of NAMES list")
}

// toRoom queues line for every member of r but except. Every member is
// sent the same bytes: nothing is copied per recipient.
func (srv *server) toRoom(r *room, line []byte, except *client) {
	for m := range r.members {
		if m != except {
			m.send(line)
		}
	}
}

// toPeers queues line once for every client sharing a room with cl, and
// for cl itself if self.
func (srv *server) toPeers(cl *client, line []byte, self bool) {
	seen := map[*client]struct{}{cl: {}}
	if self {
		cl.send(line)
	}
	for r := range cl.rooms {
		for m := range r.members {
			if _, dup := seen[m]; !dup {
				seen[m] = struct{}{}
				m.send(line)
			}
		}
	}
}

// leave takes cl out of r, and drops r once empty.
func (srv *server) leave(cl *client, r *room) {
	delete(r.members, cl)
	delete(cl.rooms, r)
	if len(r.members) == 0 {
		delete(srv.rooms, fold(r.name))
	}
}

// remove forgets a client that is going: its peers are told why, its
// rooms and nick are freed.
func (srv *server) remove(cl *client, reason string) {
	if cl.nick != "" {
		srv.toPeers(cl, []byte(":"+cl.nick+" QUIT :"+reason+"\r\n"), false)
		delete(srv.nicks, fold(cl.nick))
	}
	for r := range cl.rooms {
		srv.leave(cl, r)
	}
	delete(srv.clients, cl)
}

// word splits off the first space-separated word of b.
func word(b []byte) (w, rest []byte) {
	b = bytes.TrimLeft(b, " ")
	if i := bytes.IndexByte(b, ' '); i >= 0 {
		return b[:i], b[i+1:]
	}
	return b, nil
}

// trailing is the rest of a line as one parameter: after a ':' if it
// starts with one (IRC's trailing parameter), else as it is.
func trailing(b []byte) []byte {
	b = bytes.TrimLeft(b, " ")
	if len(b) > 0 && b[0] == ':' {
		return b[1:]
	}
	return b
}

// sanitize makes client input safe to quote in a reply line.
func sanitize(s string) string {
	if len(s) > 64 {
		s = s[:64]
	}
	return strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return '?'
		}
		return r
	}, s)
}

// shutdown drops every client, telling it why.
func (srv *server) shutdown() {
	for cl := range srv.clients {
		cl.drop("Server shutting down")
	}
}
