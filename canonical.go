package eventagg

import (
	"errors"
	"math"
	"slices"
	"strconv"
	"sync"
	"unicode/utf16"
	"unicode/utf8"
)

// Canonical appends the RFC 8785 (JSON Canonicalization Scheme) form of
// the JSON text p to b: no insignificant whitespace, object members sorted
// by their names' UTF-16 code units, strings with the fewest escapes, and
// numbers as ECMAScript prints a double. Two payloads that mean the same
// to a JSON reader (key order, spacing, 1.0 and 1, "\u0041" and "A") get
// the same bytes, so their digests match. As in JSON.parse, which the RFC
// builds on, a name repeated in one object keeps its last value.
func Canonical(b, p []byte) ([]byte, error) {
	c := canonicalizers.Get().(*canonicalizer)
	defer canonicalizers.Put(c)
	c.p, c.i, c.depth = p, 0, 0
	defer func() { c.p = nil }()
	c.space()
	b, err := c.value(b)
	if err != nil {
		return nil, err
	}
	if c.space(); c.i != len(c.p) {
		return nil, errJSON
	}
	return b, nil
}

var errJSON = errors.New("not valid JSON")

// canonicalizers keep their buffers between calls: validation
// canonicalises every payload that comes in.
var canonicalizers = sync.Pool{New: func() any { return new(canonicalizer) }}

type canonicalizer struct {
	p       []byte
	i       int
	depth   int        // of the object being read
	bufs    [][]byte   // per depth: the canonical values of an object's members
	members [][]member // per depth: the members
}

func (c *canonicalizer) space() {
	for c.i < len(c.p) && (c.p[c.i] == ' ' || c.p[c.i] == '\t' || c.p[c.i] == '\n' || c.p[c.i] == '\r') {
		c.i++
	}
}

func (c *canonicalizer) value(b []byte) ([]byte, error) {
	if c.i >= len(c.p) {
		return nil, errJSON
	}
	switch ch := c.p[c.i]; {
	case ch == '{':
		return c.object(b)
	case ch == '[':
		return c.array(b)
	case ch == '"':
		s, err := c.str()
		if err != nil {
			return nil, err
		}
		return appendCanonicalString(b, s), nil
	case ch == '-' || ch >= '0' && ch <= '9':
		return c.number(b)
	default:
		for _, lit := range []string{"true", "false", "null"} {
			if len(c.p)-c.i >= len(lit) && string(c.p[c.i:c.i+len(lit)]) == lit {
				c.i += len(lit)
				return append(b, lit...), nil
			}
		}
		return nil, errJSON
	}
}

// member is one name/value pair of an object being canonicalised: the
// name's UTF-8 bytes (a slice of the input when it had no escapes) and the
// span of its canonical value in the object's buffer.
type member struct {
	name       []byte
	start, end int
}

func (c *canonicalizer) object(b []byte) ([]byte, error) {
	c.i++ // '{'
	// The values go to a buffer of this depth, reused by the objects
	// after this one at the same depth: no allocation per member.
	depth := c.depth
	c.depth++
	defer func() { c.depth-- }()
	if len(c.bufs) <= depth {
		c.bufs = append(c.bufs, nil)
		c.members = append(c.members, nil)
	}
	buf, members := c.bufs[depth][:0], c.members[depth][:0]
	defer func() { c.bufs[depth], c.members[depth] = buf[:0], members[:0] }()
	for first := true; ; first = false {
		c.space()
		if c.i < len(c.p) && c.p[c.i] == '}' && first {
			c.i++
			break
		}
		if c.i >= len(c.p) || c.p[c.i] != '"' {
			return nil, errJSON
		}
		name, err := c.str()
		if err != nil {
			return nil, err
		}
		if c.space(); c.i >= len(c.p) || c.p[c.i] != ':' {
			return nil, errJSON
		}
		c.i++
		c.space()
		start := len(buf)
		if buf, err = c.value(buf); err != nil {
			return nil, err
		}
		members = append(members, member{name: name, start: start, end: len(buf)})
		more, err := c.afterItem('}')
		if err != nil {
			return nil, err
		}
		if !more {
			break
		}
	}
	// Stable, so that of a repeated name the last stays last; then only
	// that one is kept.
	slices.SortStableFunc(members, func(x, y member) int { return compareUTF16(x.name, y.name) })
	b = append(b, '{')
	n := 0
	for k, m := range members {
		if k+1 < len(members) && string(members[k+1].name) == string(m.name) {
			continue
		}
		if n > 0 {
			b = append(b, ',')
		}
		n++
		b = appendCanonicalString(b, m.name)
		b = append(b, ':')
		b = append(b, buf[m.start:m.end]...)
	}
	return append(b, '}'), nil
}

// compareUTF16 orders two UTF-8 strings as their UTF-16 code units
// compare (RFC 8785 §3.2.3), which differs from byte order only where a
// character beyond U+FFFF meets one in U+E000–U+FFFF.
func compareUTF16(a, b []byte) int {
	for len(a) > 0 && len(b) > 0 {
		if a[0] < utf8.RuneSelf && b[0] < utf8.RuneSelf {
			if a[0] != b[0] {
				return int(a[0]) - int(b[0])
			}
			a, b = a[1:], b[1:]
			continue
		}
		ra, na := utf8.DecodeRune(a)
		rb, nb := utf8.DecodeRune(b)
		if ra != rb {
			ha, la := utf16Units(ra)
			hb, lb := utf16Units(rb)
			if ha != hb {
				return int(ha) - int(hb)
			}
			return int(la) - int(lb)
		}
		a, b = a[na:], b[nb:]
	}
	return len(a) - len(b)
}

// utf16Units is r's UTF-16 encoding: one unit, or a surrogate pair.
func utf16Units(r rune) (hi, lo rune) {
	if r < 0x10000 {
		return r, 0
	}
	return utf16.EncodeRune(r)
}

func (c *canonicalizer) array(b []byte) ([]byte, error) {
	c.i++ // '['
	b = append(b, '[')
	for first := true; ; first = false {
		c.space()
		if c.i < len(c.p) && c.p[c.i] == ']' && first {
			c.i++
			return append(b, ']'), nil
		}
		if !first {
			b = append(b, ',')
		}
		var err error
		if b, err = c.value(b); err != nil {
			return nil, err
		}
		more, err := c.afterItem(']')
		if err != nil {
			return nil, err
		}
		if !more {
			return append(b, ']'), nil
		}
	}
}

// afterItem reads what follows an object's member or an array's element:
// a comma (more follow) or the closing bracket (the end).
func (c *canonicalizer) afterItem(closing byte) (more bool, err error) {
	c.space()
	switch {
	case c.i < len(c.p) && c.p[c.i] == ',':
		c.i++
		return true, nil
	case c.i < len(c.p) && c.p[c.i] == closing:
		c.i++
		return false, nil
	}
	return false, errJSON
}

// str reads a JSON string and returns its value: a slice of the input
// when nothing in it was escaped (the common case), else a new one.
func (c *canonicalizer) str() ([]byte, error) {
	c.i++ // '"'
	start := c.i
	for c.i < len(c.p) {
		ch := c.p[c.i]
		if ch == '"' {
			s := c.p[start:c.i]
			c.i++
			if !utf8.Valid(s) {
				return nil, errJSON
			}
			return s, nil
		}
		if ch == '\\' || ch < 0x20 {
			break
		}
		c.i++
	}
	out := append([]byte(nil), c.p[start:c.i]...)
	for c.i < len(c.p) {
		ch := c.p[c.i]
		switch {
		case ch == '"':
			c.i++
			if !utf8.Valid(out) {
				return nil, errJSON
			}
			return out, nil
		case ch < 0x20:
			return nil, errJSON
		case ch != '\\':
			out = append(out, ch)
			c.i++
			continue
		}
		if c.i+1 >= len(c.p) {
			return nil, errJSON
		}
		esc := c.p[c.i+1]
		c.i += 2
		switch esc {
		case '"', '\\', '/':
			out = append(out, esc)
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r, ok := c.hex4()
			if !ok {
				return nil, errJSON
			}
			if utf16.IsSurrogate(r) {
				// A pair makes one character; a lone half becomes the
				// replacement character, as in Go's decoder.
				r2 := rune(-1)
				if c.i+1 < len(c.p) && c.p[c.i] == '\\' && c.p[c.i+1] == 'u' {
					c.i += 2
					if r2, ok = c.hex4(); !ok {
						return nil, errJSON
					}
				}
				if d := utf16.DecodeRune(r, r2); d != utf8.RuneError {
					r = d
				} else {
					out = utf8.AppendRune(out, utf8.RuneError)
					if r2 < 0 {
						continue
					}
					r = r2
					if utf16.IsSurrogate(r) {
						r = utf8.RuneError
					}
				}
			}
			out = utf8.AppendRune(out, r)
		default:
			return nil, errJSON
		}
	}
	return nil, errJSON
}

func (c *canonicalizer) hex4() (rune, bool) {
	if c.i+4 > len(c.p) {
		return 0, false
	}
	v, err := strconv.ParseUint(string(c.p[c.i:c.i+4]), 16, 16)
	c.i += 4
	return rune(v), err == nil
}

// number reads a JSON number and appends it as ECMAScript's
// Number.prototype.toString prints the nearest double (RFC 8785 §3.2.2.3).
func (c *canonicalizer) number(b []byte) ([]byte, error) {
	start := c.i
	if c.p[c.i] == '-' {
		c.i++
	}
	digits := func() int {
		n := 0
		for c.i < len(c.p) && c.p[c.i] >= '0' && c.p[c.i] <= '9' {
			c.i++
			n++
		}
		return n
	}
	if c.i < len(c.p) && c.p[c.i] == '0' {
		c.i++
	} else if digits() == 0 {
		return nil, errJSON
	}
	if c.i < len(c.p) && c.p[c.i] == '.' {
		c.i++
		if digits() == 0 {
			return nil, errJSON
		}
	}
	if c.i < len(c.p) && (c.p[c.i] == 'e' || c.p[c.i] == 'E') {
		c.i++
		if c.i < len(c.p) && (c.p[c.i] == '+' || c.p[c.i] == '-') {
			c.i++
		}
		if digits() == 0 {
			return nil, errJSON
		}
	}
	lit := c.p[start:c.i]
	if isSmallInteger(lit) {
		if string(lit) == "-0" {
			return append(b, '0'), nil
		}
		return append(b, lit...), nil // exact in a double, printed as is
	}
	f, err := strconv.ParseFloat(string(lit), 64)
	if err != nil || math.IsInf(f, 0) {
		return nil, errJSON // out of a double's range: not I-JSON
	}
	return AppendES6Number(b, f), nil
}

// isSmallInteger reports whether a JSON number literal is an integer of at
// most 15 digits: a double holds it exactly and ECMAScript prints it as
// written (a JSON integer has no leading zeros).
func isSmallInteger(lit []byte) bool {
	digits := lit
	if len(digits) > 0 && digits[0] == '-' {
		digits = digits[1:]
	}
	if len(digits) == 0 || len(digits) > 15 {
		return false
	}
	for _, ch := range digits {
		if ch < '0' || ch > '9' {
			return false
		}
	}
	return true
}

// AppendES6Number appends f as ECMAScript prints a number: the shortest
// digits that read back as f, in plain notation for exponents -7 < e < 21
// and as d.ddde±x otherwise; -0 is 0.
func AppendES6Number(b []byte, f float64) []byte {
	if f == 0 {
		return append(b, '0')
	}
	if f < 0 {
		b = append(b, '-')
		f = -f
	}
	// Shortest round-trip digits and exponent: d.ddddde±x.
	var ebuf, dbuf [32]byte
	e := strconv.AppendFloat(ebuf[:0], f, 'e', -1, 64)
	mant, exp := e, 0
	for k := range e {
		if e[k] == 'e' {
			mant = e[:k]
			exp, _ = strconv.Atoi(string(e[k+1:]))
			break
		}
	}
	digits := dbuf[:0]
	for _, ch := range mant {
		if ch != '.' {
			digits = append(digits, ch)
		}
	}
	n := exp + 1 // the decimal point's place after the first n digits
	k := len(digits)
	switch {
	case k <= n && n <= 21:
		b = append(b, digits...)
		for ; k < n; k++ {
			b = append(b, '0')
		}
	case 0 < n && n <= 21:
		b = append(b, digits[:n]...)
		b = append(b, '.')
		b = append(b, digits[n:]...)
	case -6 < n && n <= 0:
		b = append(b, "0."...)
		for ; n < 0; n++ {
			b = append(b, '0')
		}
		b = append(b, digits...)
	default:
		b = append(b, digits[0])
		if k > 1 {
			b = append(b, '.')
			b = append(b, digits[1:]...)
		}
		b = append(b, 'e')
		if exp >= 0 {
			b = append(b, '+')
		}
		b = strconv.AppendInt(b, int64(exp), 10)
	}
	return b
}

// appendCanonicalString writes s as RFC 8785 does: only '"', '\\' and the
// control characters escaped, the short escapes where JSON has them and
// \u00xx (lower-case hex) for the rest; everything else as UTF-8.
func appendCanonicalString(b []byte, s []byte) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		ch := s[i]
		switch {
		case ch == '"' || ch == '\\':
			b = append(b, '\\', ch)
		case ch >= 0x20:
			b = append(b, ch)
		case ch == '\b':
			b = append(b, '\\', 'b')
		case ch == '\f':
			b = append(b, '\\', 'f')
		case ch == '\n':
			b = append(b, '\\', 'n')
		case ch == '\r':
			b = append(b, '\\', 'r')
		case ch == '\t':
			b = append(b, '\\', 't')
		default:
			b = append(b, '\\', 'u', '0', '0', hex[ch>>4], hex[ch&0xf])
		}
	}
	return append(b, '"')
}
