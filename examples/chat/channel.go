package main

import (
	"slices"
	"time"
)

// A channel is a set of clients talking together; it exists while it has
// members.
type channel struct {
	name    string
	members map[*client]bool // the value: channel operator (+o)
	topic   string
	topicBy string // nick!user@host of who set it
	topicAt time.Time

	// Modes: +t (only operators set the topic) and +n (no messages from
	// outside), both set when the channel is created.
	topicOps, noExternal bool
}

// modes returns the channel's mode string, as RPL_CHANNELMODEIS shows it.
func (ch *channel) modes() string {
	m := "+"
	if ch.noExternal {
		m += "n"
	}
	if ch.topicOps {
		m += "t"
	}
	return m
}

// join adds cl to the channel named name, creating it (with cl as its
// operator) if it does not exist, and tells every member.
func (srv *server) join(cl *client, name string) {
	key := fold(name)
	ch := srv.channels[key]
	if ch != nil {
		if _, in := ch.members[cl]; in {
			return
		}
	}
	if len(cl.channels) >= srv.cfg.maxChannels {
		cl.numeric("405", name+" :You have joined too many channels")
		return
	}
	op := false
	if ch == nil {
		ch = &channel{name: name, members: make(map[*client]bool), topicOps: true, noExternal: true}
		srv.channels[key] = ch
		op = true
	}
	ch.members[cl] = op
	if cl.channels == nil {
		cl.channels = make(map[*channel]struct{})
	}
	cl.channels[ch] = struct{}{}
	srv.toChannel(ch, []byte(":"+cl.prefix+" JOIN "+ch.name+"\r\n"), nil)
	if ch.topic != "" {
		srv.topicReply(cl, ch)
	}
	srv.names(cl, ch)
}

// leave takes cl out of ch, and forgets ch once it is empty.
func (srv *server) leave(cl *client, ch *channel) {
	delete(ch.members, cl)
	delete(cl.channels, ch)
	if len(ch.members) == 0 {
		delete(srv.channels, fold(ch.name))
	}
}

// toChannel queues line for every member of ch but except. The line is
// copied into each member's output buffer, where it joins whatever else
// is waiting for that member.
func (srv *server) toChannel(ch *channel, line []byte, except *client) {
	for m := range ch.members {
		if m != except {
			m.send(line)
		}
	}
}

// toPeers queues line once for every client sharing a channel with cl,
// and for cl itself if self.
func (srv *server) toPeers(cl *client, line []byte, self bool) {
	if self {
		cl.send(line)
	}
	if len(cl.channels) == 1 {
		for ch := range cl.channels {
			srv.toChannel(ch, line, cl)
		}
		return
	}
	seen := map[*client]struct{}{cl: {}}
	for ch := range cl.channels {
		for m := range ch.members {
			if _, dup := seen[m]; !dup {
				seen[m] = struct{}{}
				m.send(line)
			}
		}
	}
}

// remove forgets a client that is leaving: the clients it shares a
// channel with see it QUIT, its channels and nick are freed.
func (srv *server) remove(cl *client, reason string) {
	if cl.registered {
		srv.toPeers(cl, []byte(":"+cl.prefix+" QUIT :"+reason+"\r\n"), false)
		srv.users--
	}
	for ch := range cl.channels {
		srv.leave(cl, ch)
	}
	if cl.nick != "" && srv.nicks[fold(cl.nick)] == cl {
		delete(srv.nicks, fold(cl.nick))
	}
}

// names lists a channel's members to cl (RPL_NAMREPLY, RPL_ENDOFNAMES),
// operators marked with '@', in lines well under the line limit.
func (srv *server) names(cl *client, ch *channel) {
	srv.namesOnly(cl, ch)
	cl.numeric("366", ch.name+" :End of NAMES list")
}

func (srv *server) namesOnly(cl *client, ch *channel) {
	nicks := make([]string, 0, len(ch.members))
	for m, op := range ch.members {
		if op {
			nicks = append(nicks, "@"+m.nick)
		} else {
			nicks = append(nicks, m.nick)
		}
	}
	slices.Sort(nicks)
	head := "= " + ch.name + " :"
	var b []byte
	for _, n := range nicks {
		if len(b) > 0 && len(head)+len(b)+1+len(n) > 400 {
			cl.numeric("353", head+string(b))
			b = b[:0]
		}
		if len(b) > 0 {
			b = append(b, ' ')
		}
		b = append(b, n...)
	}
	if len(b) > 0 {
		cl.numeric("353", head+string(b))
	}
}

func (srv *server) topicReply(cl *client, ch *channel) {
	cl.numeric("332", ch.name+" :"+ch.topic)
	cl.numeric("333", ch.name+" "+ch.topicBy+" "+itoa(ch.topicAt.Unix()))
}
