package main

// Most text csetctl prints comes from elsewhere: names and statuses that ECX servers report,
// descriptions and messages that admins wrote, hook output. Printed raw, an ESC starts an escape
// sequence that can recolour, hide or rewrite what the terminal shows (or, on some terminals,
// set the window title or answer with input), BEL rings, CR returns to the start of the line
// and overwrites it, and a bidirectional override reorders what follows. So nothing reaches the
// terminal raw: termSafe escapes a whole value, and termWriter filters everything csetctl writes.

import (
	"io"
	"unicode/utf8"
)

// termSafe returns s with every character a terminal would act on written as an escape: C0
// controls (tab, newline and CR included, so a value stays on its line and in its column) as
// \t, \n, \r or \xNN, DEL, C1 controls and bidirectional formatting characters as \uNNNN,
// and bytes that are not UTF-8 as \xNN. Other text, non-ASCII letters included, is unchanged.
func termSafe(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f {
			return string(appendEscaped(make([]byte, 0, len(s)+8), []byte(s), false))
		}
	}
	return s
}

// termWriter passes text to w with the escapes of termSafe, except that tabs and newlines stay:
// they lay out tables and lines. The escapes are valid inside JSON strings (and JSON output
// holds no raw control character to begin with), so -o json goes through it unchanged in
// meaning. A multi-byte character split across two writes is not reassembled: its first part is
// passed on and the rest escaped as stray bytes, which a terminal cannot act on either.
type termWriter struct{ w io.Writer }

// newTermWriter wraps w; nil stays nil.
func newTermWriter(w io.Writer) io.Writer {
	if w == nil {
		return nil
	}
	return &termWriter{w: w}
}

func (t *termWriter) Write(p []byte) (int, error) {
	clean := true
	for _, c := range p {
		if (c < 0x20 && c != '\t' && c != '\n') || c >= 0x7f {
			clean = false
			break
		}
	}
	if clean {
		return t.w.Write(p)
	}
	if _, err := t.w.Write(appendEscaped(make([]byte, 0, len(p)+16), p, true)); err != nil {
		return 0, err
	}
	return len(p), nil
}

// appendEscaped appends p to dst with the escapes of termSafe; with layout, tabs and newlines
// and an incomplete UTF-8 sequence at the very end of p are kept.
func appendEscaped(dst, p []byte, layout bool) []byte {
	const hex = "0123456789abcdef"
	for i := 0; i < len(p); {
		r, size := utf8.DecodeRune(p[i:])
		switch {
		case r == utf8.RuneError && size <= 1:
			if layout && !utf8.FullRune(p[i:]) {
				return append(dst, p[i:]...)
			}
			dst = append(dst, '\\', 'x', hex[p[i]>>4], hex[p[i]&0xf])
		case r == '\t' || r == '\n':
			if layout {
				dst = append(dst, p[i])
			} else if r == '\t' {
				dst = append(dst, '\\', 't')
			} else {
				dst = append(dst, '\\', 'n')
			}
		case r == '\r':
			dst = append(dst, '\\', 'r')
		case r < 0x20:
			dst = append(dst, '\\', 'x', hex[r>>4], hex[r&0xf])
		case r == 0x7f || (r >= 0x80 && r <= 0x9f) || isBidiControl(r):
			dst = append(dst, '\\', 'u', hex[r>>12&0xf], hex[r>>8&0xf], hex[r>>4&0xf], hex[r&0xf])
		default:
			dst = append(dst, p[i:i+size]...)
		}
		i += size
	}
	return dst
}

// isBidiControl reports the Unicode characters that reorder the text around them (the marks,
// embeddings, overrides and isolates of UAX #9).
func isBidiControl(r rune) bool {
	switch {
	case r == 0x061c, r == 0x200e, r == 0x200f:
		return true
	case r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069:
		return true
	}
	return false
}
