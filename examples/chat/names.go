package main

// Names: nicknames and channel names as RFC 2812 section 2.3.1 defines
// them, compared under the rfc1459 case mapping that the server announces
// in ISUPPORT (CASEMAPPING=rfc1459): A-Z are the upper case of a-z, and
// "[]\~" the upper case of "{}|^" (Scandinavian letters on 1990s
// keyboards).

// fold returns the case-folded form of a nick or channel name, the key of
// the server's tables. It allocates only when s has upper-case bytes.
func fold(s string) string {
	for i := 0; i < len(s); i++ {
		if foldByte(s[i]) != s[i] {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				b[j] = foldByte(b[j])
			}
			return string(b)
		}
	}
	return s
}

func foldByte(c byte) byte {
	switch {
	case 'A' <= c && c <= 'Z':
		return c + 'a' - 'A'
	case c == '[':
		return '{'
	case c == ']':
		return '}'
	case c == '\\':
		return '|'
	case c == '~':
		return '^'
	}
	return c
}

// validNick follows RFC 2812: a letter or a special character first,
// then letters, digits, specials and '-', at most maxLen bytes.
//
//	nickname = ( letter / special ) *8( letter / digit / special / "-" )
//	special  = "[" / "]" / "\" / "`" / "_" / "^" / "{" / "|" / "}"
func validNick(s string, maxLen int) bool {
	if len(s) == 0 || len(s) > maxLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z':
		case c == '[' || c == ']' || c == '\\' || c == '`' || c == '_' || c == '^' || c == '{' || c == '|' || c == '}':
		case i > 0 && ('0' <= c && c <= '9' || c == '-'):
		default:
			return false
		}
	}
	return true
}

// channelLen is the longest channel name, prefix included (RFC 2812:
// "up to fifty (50) characters"); ISUPPORT announces it as CHANNELLEN.
const channelLen = 50

// validChannel accepts '#' and then 1 to 49 bytes of RFC 2812's
// chanstring: any octet but NUL, BELL, CR, LF, space, comma and colon.
// Only '#' channels exist here (CHANTYPES=#).
func validChannel(s string) bool {
	if len(s) < 2 || len(s) > channelLen || s[0] != '#' {
		return false
	}
	for i := 1; i < len(s); i++ {
		switch s[i] {
		case 0, 7, '\r', '\n', ' ', ',', ':':
			return false
		}
	}
	return true
}

func isChannel(s string) bool { return len(s) > 0 && s[0] == '#' }

// folded reports whether b is its own folded form.
func folded(b []byte) bool {
	for _, c := range b {
		if foldByte(c) != c {
			return false
		}
	}
	return true
}

// channelNamed and nickNamed look a name up without allocating when it
// is already in folded form, as a client's message usually has it.
func (srv *server) channelNamed(b []byte) *channel {
	if folded(b) {
		return srv.channels[string(b)]
	}
	return srv.channels[fold(string(b))]
}

func (srv *server) nickNamed(b []byte) *client {
	if folded(b) {
		return srv.nicks[string(b)]
	}
	return srv.nicks[fold(string(b))]
}
