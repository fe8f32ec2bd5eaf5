package main

import (
	"bytes"
	"fmt"
	"math"
	"strconv"
)

// A command is an entry of the command table.
type command struct {
	name  string // lower case, as error replies spell it
	arity int    // as in Redis: n > 0 exactly n arguments (name included), -n at least n

	// keyed runs a command about one key, args[1], on the scheduler that
	// owns the key's shard; run runs any other command on the client's
	// own scheduler. Exactly one is set.
	keyed func(st *store, args [][]byte, w *replies)
	run   func(cl *client, args [][]byte)
}

// commands is the command table, by lower-case name; commandNames lists
// it in its order, for COMMAND LIST.
var (
	commands     = map[string]*command{}
	commandNames []string
)

func init() {
	for _, c := range []*command{
		{name: "ping", arity: -1, run: cmdPing},
		{name: "echo", arity: 2, run: cmdEcho},
		{name: "get", arity: 2, keyed: cmdGet},
		{name: "set", arity: -3, keyed: cmdSet},
		{name: "del", arity: -2, run: cmdDel},
		{name: "unlink", arity: -2, run: cmdDel},
		{name: "exists", arity: -2, run: cmdExists},
		{name: "incr", arity: 2, keyed: cmdIncr},
		{name: "decr", arity: 2, keyed: cmdDecr},
		{name: "incrby", arity: 3, keyed: cmdIncrBy},
		{name: "decrby", arity: 3, keyed: cmdDecrBy},
		{name: "mget", arity: -2, run: cmdMGet},
		{name: "mset", arity: -3, run: cmdMSet},
		{name: "expire", arity: -3, keyed: cmdExpire},
		{name: "pexpire", arity: -3, keyed: cmdPExpire},
		{name: "persist", arity: 2, keyed: cmdPersist},
		{name: "ttl", arity: 2, keyed: cmdTTL},
		{name: "pttl", arity: 2, keyed: cmdPTTL},
		{name: "keys", arity: 2, run: cmdKeys},
		{name: "dbsize", arity: 1, run: cmdDBSize},
		{name: "flushall", arity: -1, run: cmdFlush},
		{name: "flushdb", arity: -1, run: cmdFlush},
		{name: "select", arity: 2, run: cmdSelect},
		{name: "quit", arity: -1, run: cmdQuit},
		{name: "config", arity: -2, run: cmdConfig},
		{name: "command", arity: -1, run: cmdCommand},
		{name: "hello", arity: -1, run: cmdHello},
		{name: "client", arity: -2, run: cmdClient},
		// What an HTTP request's first lines look like to Redis: a
		// cross-protocol attack. Redis drops the connection silently.
		{name: "post", arity: -1, run: cmdSecurityWarning},
		{name: "host:", arity: -1, run: cmdSecurityWarning},
	} {
		commands[c.name] = c
		commandNames = append(commandNames, c.name)
		n, l := slot(len(c.name), c.name[0])
		byShape[n][l] = append(byShape[n][l], shape(c))
	}
}

// byShape is the command table again, by length and first letter: the
// few names of a length that start alike (most often one) are compared,
// each as one word, where a map would hash every command's name.
var byShape [maxName + 1][26][]shaped

// A shaped command is a command with its name packed into a word, as
// pack packs it, and the case bits of its letters, which lookup sets in
// the name it looks for: a letter with its case bit set is the lower-case
// letter whatever its case, and no other byte becomes a letter so.
type shaped struct {
	name, fold uint64
	cmd        *command
}

// maxName is the length of the longest command name: one word.
const maxName = 8

// slot returns the index in byShape of a name of length n starting
// with c, or -1 if no command name could be so (not a letter, too long).
func slot(n int, c byte) (int, int) {
	c |= 'a' - 'A' // lower-case a letter; anything else stays no letter
	if n > maxName || c < 'a' || c > 'z' {
		return -1, 0
	}
	return n, int(c - 'a')
}

// pack packs a name of at most 8 bytes into a word, its first byte
// lowest.
func pack[T string | []byte](name T) uint64 {
	var v uint64
	for i := len(name) - 1; i >= 0; i-- {
		v = v<<8 | uint64(name[i])
	}
	return v
}

// shape returns cmd's entry of byShape.
func shape(cmd *command) shaped {
	var fold uint64
	for i := range len(cmd.name) {
		if c := cmd.name[i]; 'a' <= c && c <= 'z' {
			fold |= uint64('a'-'A') << (8 * i)
		}
	}
	return shaped{name: pack(cmd.name), fold: fold, cmd: cmd}
}

// lookup finds the command named by name, in any case, without
// allocating.
func lookup(name []byte) *command {
	if len(name) == 0 {
		return nil
	}
	n, c := slot(len(name), name[0])
	if n < 0 {
		return nil
	}
	v := pack(name)
	for _, e := range byShape[n][c] {
		if v|e.fold == e.name {
			return e.cmd
		}
	}
	return nil
}

// exec runs one command and appends its reply.
func (cl *client) exec(args [][]byte) {
	cmd := lookup(args[0])
	if cmd == nil {
		cl.w.err(unknownCommand(args))
		return
	}
	if cmd.arity > 0 && len(args) != cmd.arity || len(args) < -cmd.arity {
		cl.w.arity(cmd.name)
		return
	}
	if cmd.run != nil {
		cmd.run(cl, args)
		return
	}
	sh := cl.ownerOf(args[1])
	if sh == cl.home {
		cl.srv.lock()
		cmd.keyed(sh.st, args, &cl.w)
		cl.srv.unlock()
		return
	}
	// Forwarded, through the client's one bound function: a closure per
	// command would be garbage per request, and a collection scans every
	// key of the store.
	cl.fwdCmd, cl.fwdShard, cl.fwdArgs = cmd, sh, args
	cl.doOn(sh, cl.fwd)
	cl.fwdCmd, cl.fwdShard, cl.fwdArgs = nil, nil, nil
}

// runForwarded runs the forwarded command on the owner's scheduler.
func (cl *client) runForwarded() { cl.fwdCmd.keyed(cl.fwdShard.st, cl.fwdArgs, &cl.w) }

// forwarded reports whether exec would forward the command args to
// another scheduler.
func (cl *client) forwarded(args [][]byte) bool {
	if !cl.srv.split() || len(args) < 2 {
		return false
	}
	cmd := lookup(args[0])
	return cmd != nil && cmd.keyed != nil && cl.ownerOf(args[1]) != cl.home
}

// unknownCommand words the error for an unknown command as Redis does,
// quoting the first 128 bytes of its arguments.
func unknownCommand(args [][]byte) string {
	var b []byte
	for _, a := range args[1:] {
		if len(b) >= 128 {
			break
		}
		b = append(b, '\'')
		b = append(b, cstring(a, 128-len(b)+1)...)
		b = append(b, "' "...)
	}
	return "ERR unknown command '" + string(cstring(args[0], 128)) + "', with args beginning with: " + string(b)
}

// unknownSubcommand is the error for a container command's unknown
// subcommand.
func unknownSubcommand(args [][]byte) string {
	return "ERR unknown subcommand '" + string(cstring(args[1], 128)) + "'. Try " + string(bytes.ToUpper(args[0])) + " HELP."
}

// cstring is what C's "%.*s" prints of b: at most max bytes, up to the
// first NUL.
func cstring(b []byte, max int) []byte {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return b[:min(len(b), max)]
}

// eqFold reports whether b equals the lower-case ASCII word s, in any case.
func eqFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range len(b) {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != s[i] {
			return false
		}
	}
	return true
}

// --- connection commands

func cmdPing(cl *client, args [][]byte) {
	switch len(args) {
	case 1:
		cl.w.simple("PONG")
	case 2:
		cl.w.bulk(args[1])
	default:
		cl.w.arity("ping")
	}
}

func cmdEcho(cl *client, args [][]byte) { cl.w.bulk(args[1]) }

func cmdQuit(cl *client, args [][]byte) {
	cl.w.ok()
	cl.closeAfterReply = true
}

func cmdSecurityWarning(cl *client, args [][]byte) {
	cl.srv.logf("possible SECURITY ATTACK detected: %s looks like HTTP sent to kv; connection dropped", cl.addr())
	cl.dropNow = true
}

func cmdSelect(cl *client, args [][]byte) {
	db, ok := string2ll(args[1])
	switch {
	case !ok || db < math.MinInt32 || db > math.MaxInt32:
		cl.w.err(errNotInteger)
	case db != 0:
		cl.w.err("ERR DB index is out of range") // one database, as with "databases 1"
	default:
		cl.w.ok()
	}
}

// cmdCommand answers COMMAND, DOCS and INFO with an empty array: enough
// for clients that ask for the command table at start-up. COUNT and LIST
// answer as Redis does, from kv's own table.
func cmdCommand(cl *client, args [][]byte) {
	if len(args) == 1 {
		cl.w.array(0)
		return
	}
	sub := args[1]
	switch {
	case eqFold(sub, "count") && len(args) == 2:
		cl.w.int(int64(len(commands)))
	case eqFold(sub, "list") && len(args) == 2:
		cl.w.array(len(commands))
		for _, name := range commandNames {
			cl.w.bulkString(name)
		}
	case eqFold(sub, "count"):
		cl.w.arity("command|count")
	case eqFold(sub, "docs"), eqFold(sub, "info"):
		cl.w.array(0)
	default:
		cl.w.err(unknownSubcommand(args))
	}
}

// errClientName is Redis's answer to a client name it refuses.
const errClientName = "ERR Client names cannot contain spaces, newlines or special characters."

// validClientName reports whether Redis takes name as a client's name:
// empty (which removes the name) or printable ASCII without spaces, so
// that CLIENT LIST's fields stay split by spaces.
func validClientName(name []byte) bool {
	for _, c := range name {
		if c < '!' || c > '~' {
			return false
		}
	}
	return true
}

// cmdHello speaks RESP2 only: "HELLO 3" gets NOPROTO, which clients
// (go-redis among them) take as "use RESP2".
func cmdHello(cl *client, args [][]byte) {
	if len(args) >= 2 {
		ver, ok := string2ll(args[1])
		if !ok {
			cl.w.err("ERR Protocol version is not an integer or out of range")
			return
		}
		if ver != 2 {
			cl.w.err("NOPROTO unsupported protocol version")
			return
		}
		for j := 2; j < len(args); j++ {
			left := len(args) - j - 1
			switch {
			case eqFold(args[j], "auth") && left >= 2:
				j += 2 // no users or passwords here: the default user, as Redis with nopass
			case eqFold(args[j], "setname") && left >= 1:
				// Set at once, as Redis 7.0 does: an error in a later
				// option leaves the name set.
				j++
				if !validClientName(args[j]) {
					cl.w.err(errClientName)
					return
				}
				cl.name = string(args[j])
			default:
				cl.w.err("ERR Syntax error in HELLO option '" + string(cstring(args[j], 1<<20)) + "'")
				return
			}
		}
	}
	cl.w.array(14)
	cl.w.bulkString("server")
	cl.w.bulkString("coop-kv")
	cl.w.bulkString("version")
	cl.w.bulkString("7.0.0")
	cl.w.bulkString("proto")
	cl.w.int(2)
	cl.w.bulkString("id")
	cl.w.int(int64(cl.id))
	cl.w.bulkString("mode")
	cl.w.bulkString("standalone")
	cl.w.bulkString("role")
	cl.w.bulkString("master")
	cl.w.bulkString("modules")
	cl.w.array(0)
}

func cmdClient(cl *client, args [][]byte) {
	sub := args[1]
	switch {
	case eqFold(sub, "setname") && len(args) == 3:
		if !validClientName(args[2]) {
			cl.w.err(errClientName)
			return
		}
		cl.name = string(args[2])
		cl.w.ok()
	case eqFold(sub, "getname") && len(args) == 2:
		if cl.name == "" {
			cl.w.null()
		} else {
			cl.w.bulkString(cl.name)
		}
	case eqFold(sub, "id") && len(args) == 2:
		cl.w.int(int64(cl.id))
	case eqFold(sub, "setinfo") && len(args) == 4:
		cl.w.ok() // library name and version: noted nowhere
	case eqFold(sub, "info") && len(args) == 2:
		// Redis's fields that mean something here: behind a balancer
		// that sends the PROXY protocol, addr is the client's and laddr
		// the address it connected to.
		cl.w.bulkString(fmt.Sprintf("id=%d addr=%v laddr=%v name=%s db=0\n", cl.id, cl.c.RemoteAddr(), cl.c.LocalAddr(), cl.name))
	case eqFold(sub, "setname"), eqFold(sub, "getname"), eqFold(sub, "id"), eqFold(sub, "setinfo"), eqFold(sub, "info"):
		cl.w.arity("client|" + string(bytes.ToLower(sub)))
	default:
		cl.w.err(unknownSubcommand(args))
	}
}

// cmdConfig is a stub that answers CONFIG GET for a few parameters, so
// that redis-benchmark (which asks for "save" and "appendonly") and
// similar tools run.
func cmdConfig(cl *client, args [][]byte) {
	sub := args[1]
	switch {
	case eqFold(sub, "get"):
		if len(args) < 3 {
			cl.w.arity("config|get")
			return
		}
		params := cl.srv.configParams()
		var out replies
		n := 0
		for _, p := range params {
			for _, pat := range args[2:] {
				if globMatch(bytes.ToLower(pat), []byte(p[0])) {
					out.bulkString(p[0])
					out.bulkString(p[1])
					n++
					break
				}
			}
		}
		cl.w.array(2 * n)
		cl.w.b = append(cl.w.b, out.b...)
	case eqFold(sub, "help") && len(args) == 2:
		cl.w.array(2)
		cl.w.simple("CONFIG GET <pattern> [<pattern> ...]")
		cl.w.simple("    Return parameters matching the glob-like <pattern> and their values.")
	default:
		cl.w.err(unknownSubcommand(args))
	}
}

// --- keyed commands: they run on the scheduler that owns the key

func cmdGet(st *store, args [][]byte, w *replies) {
	if e := st.get(args[1]); e != nil {
		w.bulk(e.val)
	} else {
		w.null()
	}
}

// SET flags, as parseExtendedStringArgumentsOrReply in Redis's t_string.c
// combines them.
const (
	setNX = 1 << iota
	setXX
	setGet
	setKeepTTL
	setEX
	setPX
	setEXAT
	setPXAT
)

func cmdSet(st *store, args [][]byte, w *replies) {
	flags := 0
	var expArg []byte
	for j := 3; j < len(args); j++ {
		opt, hasNext := args[j], j+1 < len(args)
		expiry := func(f int) bool {
			return hasNext && flags&(setKeepTTL|setEX|setPX|setEXAT|setPXAT)&^f == 0
		}
		switch {
		case eqFold(opt, "nx") && flags&setXX == 0:
			flags |= setNX
		case eqFold(opt, "xx") && flags&setNX == 0:
			flags |= setXX
		case eqFold(opt, "get"):
			flags |= setGet
		case eqFold(opt, "keepttl") && flags&(setEX|setPX|setEXAT|setPXAT) == 0:
			flags |= setKeepTTL
		case eqFold(opt, "ex") && expiry(setEX):
			flags |= setEX
			j++
			expArg = args[j]
		case eqFold(opt, "px") && expiry(setPX):
			flags |= setPX
			j++
			expArg = args[j]
		case eqFold(opt, "exat") && expiry(setEXAT):
			flags |= setEXAT
			j++
			expArg = args[j]
		case eqFold(opt, "pxat") && expiry(setPXAT):
			flags |= setPXAT
			j++
			expArg = args[j]
		default:
			w.err(errSyntax)
			return
		}
	}
	var when int64
	if expArg != nil {
		ms, ok := string2ll(expArg)
		if !ok {
			w.err(errNotInteger)
			return
		}
		seconds := flags&(setEX|setEXAT) != 0
		if ms <= 0 || seconds && ms > math.MaxInt64/1000 {
			w.err("ERR invalid expire time in 'set' command")
			return
		}
		if seconds {
			ms *= 1000
		}
		if flags&(setEX|setPX) != 0 {
			ms += nowMs() // wraps negative on overflow, caught below
		}
		if ms <= 0 {
			w.err("ERR invalid expire time in 'set' command")
			return
		}
		when = ms
	}
	key := args[1]
	var old *entry
	if flags&(setNX|setXX|setGet|setKeepTTL) != 0 {
		old = st.get(key) // also drops an expired key, whose TTL KEEPTTL must not keep
	}
	if flags&setGet != 0 {
		if old != nil {
			w.bulk(old.val)
		} else {
			w.null()
		}
	}
	if flags&setNX != 0 && old != nil || flags&setXX != 0 && old == nil {
		if flags&setGet == 0 {
			w.null()
		}
		return
	}
	e := st.set(key, args[2], flags&setKeepTTL != 0)
	if when != 0 {
		st.expire(key, e, when)
	}
	if flags&setGet == 0 {
		w.ok()
	}
}

func cmdIncr(st *store, args [][]byte, w *replies) { incrBy(st, args[1], 1, w) }
func cmdDecr(st *store, args [][]byte, w *replies) { incrBy(st, args[1], -1, w) }

func cmdIncrBy(st *store, args [][]byte, w *replies) {
	n, ok := string2ll(args[2])
	if !ok {
		w.err(errNotInteger)
		return
	}
	incrBy(st, args[1], n, w)
}

func cmdDecrBy(st *store, args [][]byte, w *replies) {
	n, ok := string2ll(args[2])
	if !ok {
		w.err(errNotInteger)
		return
	}
	if n == math.MinInt64 {
		w.err("ERR decrement would overflow")
		return
	}
	incrBy(st, args[1], -n, w)
}

// incrBy adds by to the integer at key, keeping its time to live.
func incrBy(st *store, key []byte, by int64, w *replies) {
	var v int64
	e := st.get(key)
	if e != nil {
		var ok bool
		if v, ok = string2ll(e.val); !ok {
			w.err(errNotInteger)
			return
		}
	}
	if by < 0 && v < 0 && by < math.MinInt64-v || by > 0 && v > 0 && by > math.MaxInt64-v {
		w.err(errOverflow)
		return
	}
	v += by
	var buf [20]byte
	num := strconv.AppendInt(buf[:0], v, 10)
	if e == nil {
		st.set(key, num, false)
	} else {
		e.val = append(e.val[:0], num...)
	}
	w.int(v)
}

func cmdExpire(st *store, args [][]byte, w *replies)  { expireGeneric(st, args, 1000, "expire", w) }
func cmdPExpire(st *store, args [][]byte, w *replies) { expireGeneric(st, args, 1, "pexpire", w) }

// EXPIRE options.
const (
	expNX = 1 << iota
	expXX
	expGT
	expLT
)

// expireGeneric is Redis's expireGenericCommand for a relative time in
// units of unit ms.
func expireGeneric(st *store, args [][]byte, unit int64, name string, w *replies) {
	flags := 0
	for _, opt := range args[3:] {
		switch {
		case eqFold(opt, "nx"):
			flags |= expNX
		case eqFold(opt, "xx"):
			flags |= expXX
		case eqFold(opt, "gt"):
			flags |= expGT
		case eqFold(opt, "lt"):
			flags |= expLT
		default:
			w.err("ERR Unsupported option " + string(cstring(opt, 1<<20)))
			return
		}
	}
	if flags&expNX != 0 && flags&(expXX|expGT|expLT) != 0 {
		w.err("ERR NX and XX, GT or LT options at the same time are not compatible")
		return
	}
	if flags&expGT != 0 && flags&expLT != 0 {
		w.err("ERR GT and LT options at the same time are not compatible")
		return
	}
	when, ok := string2ll(args[2])
	if !ok {
		w.err(errNotInteger)
		return
	}
	if unit > 1 {
		if when > math.MaxInt64/unit || when < math.MinInt64/unit {
			w.err("ERR invalid expire time in '" + name + "' command")
			return
		}
		when *= unit
	}
	now := nowMs()
	if when > math.MaxInt64-now {
		w.err("ERR invalid expire time in '" + name + "' command")
		return
	}
	when += now
	key := args[1]
	e := st.get(key)
	if e == nil {
		w.int(0)
		return
	}
	cur := int64(-1)
	if e.exp != 0 {
		cur = e.exp
	}
	switch {
	case flags&expNX != 0 && cur != -1,
		flags&expXX != 0 && cur == -1,
		flags&expGT != 0 && (when <= cur || cur == -1),
		flags&expLT != 0 && cur != -1 && when >= cur:
		w.int(0)
		return
	}
	if when <= now {
		st.delete(key)
	} else {
		st.expire(key, e, when)
	}
	w.int(1)
}

func cmdPersist(st *store, args [][]byte, w *replies) {
	e := st.get(args[1])
	if e == nil || e.exp == 0 {
		w.int(0)
		return
	}
	st.persist(args[1], e)
	w.int(1)
}

func cmdTTL(st *store, args [][]byte, w *replies)  { ttl(st, args[1], false, w) }
func cmdPTTL(st *store, args [][]byte, w *replies) { ttl(st, args[1], true, w) }

func ttl(st *store, key []byte, ms bool, w *replies) {
	e := st.get(key)
	switch {
	case e == nil:
		w.int(-2)
	case e.exp == 0:
		w.int(-1)
	default:
		t := max(e.exp-nowMs(), 0)
		if !ms {
			t = (t + 500) / 1000
		}
		w.int(t)
	}
}

// --- commands about several keys or all of them: they visit the shards

func cmdDel(cl *client, args [][]byte) {
	n := 0
	cl.byShard(args[1:], 1, func(st *store, keys [][]byte, idx []int) {
		for _, i := range idx {
			if st.get(keys[i]) != nil { // an expired key does not count
				st.delete(keys[i])
				n++
			}
		}
	})
	cl.w.int(int64(n))
}

func cmdExists(cl *client, args [][]byte) {
	n := 0
	cl.byShard(args[1:], 1, func(st *store, keys [][]byte, idx []int) {
		for _, i := range idx {
			if st.get(keys[i]) != nil {
				n++
			}
		}
	})
	cl.w.int(int64(n))
}

func cmdMGet(cl *client, args [][]byte) {
	keys := args[1:]
	if !cl.srv.split() {
		// One store, ours: reply straight from it.
		cl.w.array(len(keys))
		cl.srv.lock()
		for _, k := range keys {
			cmdGetKey(cl.home.st, k, &cl.w)
		}
		cl.srv.unlock()
		return
	}
	// Several shards: each fills in the replies of its keys, which are
	// then written in order.
	vals := cl.scratch(len(keys))
	cl.byShard(keys, 1, func(st *store, keys [][]byte, idx []int) {
		for _, i := range idx {
			vals[i].b = vals[i].b[:0]
			cmdGetKey(st, keys[i], &vals[i])
		}
	})
	cl.w.array(len(keys))
	for i := range keys {
		cl.w.b = append(cl.w.b, vals[i].b...)
	}
}

func cmdGetKey(st *store, key []byte, w *replies) {
	if e := st.get(key); e != nil {
		w.bulk(e.val)
	} else {
		w.null()
	}
}

// cmdMSet sets every pair. With several shards it is not atomic: another
// client may see some of the keys set and not yet the others (Redis
// Cluster refuses such commands instead).
func cmdMSet(cl *client, args [][]byte) {
	if len(args)%2 == 0 {
		cl.w.arity("mset")
		return
	}
	cl.byShard(args[1:], 2, func(st *store, kv [][]byte, idx []int) {
		for _, i := range idx {
			st.set(kv[i], kv[i+1], false)
		}
	})
	cl.w.ok()
}

func cmdKeys(cl *client, args [][]byte) {
	pat := args[1]
	all := len(pat) == 1 && pat[0] == '*'
	var out replies
	n := 0
	cl.eachShard(func(st *store) {
		now := nowMs()
		for k, e := range st.keys {
			if e.exp != 0 && e.exp <= now {
				continue
			}
			if all || globMatch(pat, []byte(k)) {
				out.bulkString(k)
				n++
			}
		}
	})
	cl.w.array(n)
	cl.w.b = append(cl.w.b, out.b...)
}

// cmdDBSize counts keys as Redis does: expired keys not yet reclaimed
// (by access or by the sweep) included.
func cmdDBSize(cl *client, args [][]byte) {
	n := 0
	cl.eachShard(func(st *store) { n += len(st.keys) })
	cl.w.int(int64(n))
}

func cmdFlush(cl *client, args [][]byte) {
	if len(args) > 2 || len(args) == 2 && !eqFold(args[1], "sync") && !eqFold(args[1], "async") {
		cl.w.err(errSyntax)
		return
	}
	cl.eachShard(func(st *store) { st.flush() })
	cl.w.ok()
}
