package main

// globMatch reports whether s matches the glob pattern p, with Redis's
// rules (stringmatchlen in util.c): '*', '?', '[abc]', '[^a-z]', and '\'
// to quote the next byte. Like Redis it gives up on longer matches for an
// earlier '*' once the rest of the pattern failed everywhere, which keeps
// patterns such as "a*a*a*a*b" from taking exponential time.
func globMatch(p, s []byte) bool {
	skip := false
	return globImpl(p, s, &skip)
}

func globImpl(p, s []byte, skipLonger *bool) bool {
	for len(p) > 0 && len(s) > 0 {
		switch p[0] {
		case '*':
			for len(p) > 1 && p[1] == '*' {
				p = p[1:]
			}
			if len(p) == 1 {
				return true
			}
			for len(s) > 0 {
				if globImpl(p[1:], s, skipLonger) {
					return true
				}
				if *skipLonger {
					return false
				}
				s = s[1:]
			}
			*skipLonger = true
			return false
		case '?':
			p, s = p[1:], s[1:]
		case '[':
			var ok bool
			if p, ok = matchClass(p, s[0]); !ok {
				return false
			}
			s = s[1:]
		case '\\':
			if len(p) >= 2 {
				p = p[1:]
			}
			fallthrough
		default:
			if p[0] != s[0] {
				return false
			}
			p, s = p[1:], s[1:]
		}
		if len(s) == 0 {
			for len(p) > 0 && p[0] == '*' {
				p = p[1:]
			}
			break
		}
	}
	return len(p) == 0 && len(s) == 0
}

// matchClass matches c against the class "[...]" at the start of p and
// returns the pattern after it. A class that is not closed runs to the
// end of the pattern, as in the C code.
func matchClass(p []byte, c byte) ([]byte, bool) {
	p = p[1:]
	not := len(p) > 0 && p[0] == '^'
	if not {
		p = p[1:]
	}
	match := false
	for len(p) > 0 && p[0] != ']' {
		switch {
		case p[0] == '\\' && len(p) >= 2:
			p = p[1:]
			if p[0] == c {
				match = true
			}
		case len(p) >= 3 && p[1] == '-':
			// Bytes compare as C's (signed) char.
			lo, hi, x := int8(p[0]), int8(p[2]), int8(c)
			if lo > hi {
				lo, hi = hi, lo
			}
			p = p[2:]
			if x >= lo && x <= hi {
				match = true
			}
		case p[0] == c:
			match = true
		}
		p = p[1:]
	}
	if len(p) > 0 {
		p = p[1:] // the ']'
	}
	return p, match != not
}
