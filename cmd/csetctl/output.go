package main

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"
)

func (a *app) jsonOutput() bool { return a.output == "json" }

// printJSON writes v as one 2-space indented JSON document.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("writing json: %w", err)
	}
	return nil
}

// printJSONLine writes v as one compact JSON line (events --follow).
func printJSONLine(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("writing json: %w", err)
	}
	return nil
}

// table is a tabwriter for aligned columns; call flush when done.
type table struct{ tw *tabwriter.Writer }

func newTable(w io.Writer, header ...string) *table {
	t := &table{tw: tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)}
	if len(header) > 0 {
		t.row(header...)
	}
	return t
}

// row prints one line; every cell goes through termSafe, so a name or status with a tab, a
// newline or an escape sequence can neither break the columns nor act on the terminal.
func (t *table) row(cols ...string) {
	for i, c := range cols {
		if c == "" {
			cols[i] = "-"
		} else {
			cols[i] = termSafe(c)
		}
	}
	fmt.Fprintln(t.tw, strings.Join(cols, "\t"))
}

func (t *table) flush() error {
	if err := t.tw.Flush(); err != nil {
		return fmt.Errorf("writing table: %w", err)
	}
	return nil
}

// kv prints "key: value" lines aligned, for the show commands; values go through termSafe.
func kv(w io.Writer, pairs ...string) error {
	tw := tabwriter.NewWriter(w, 0, 0, 1, ' ', 0)
	for i := 0; i+1 < len(pairs); i += 2 {
		v := termSafe(pairs[i+1])
		if v == "" {
			v = "-"
		}
		fmt.Fprintf(tw, "%s:\t%s\n", pairs[i], v)
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("writing output: %w", err)
	}
	return nil
}

// timeString formats a unix-nano timestamp as RFC 3339 UTC; 0 is "".
func timeString(unixNano int64) string {
	if unixNano == 0 {
		return ""
	}
	return time.Unix(0, unixNano).UTC().Format(time.RFC3339Nano)
}

// shortTime formats a timestamp for tables: second precision, UTC.
func shortTime(unixNano int64) string {
	if unixNano == 0 {
		return ""
	}
	return time.Unix(0, unixNano).UTC().Format("2006-01-02T15:04:05Z")
}

func list(items []string) string { return strings.Join(items, ",") }

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// sortedKeys returns the keys of m in order, for deterministic output.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// nonNil returns s, or an empty slice so JSON prints [] instead of null.
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// Most text csetctl prints comes from elsewhere: names and statuses that ECX servers report,
// descriptions and messages that admins wrote, hook output. Printed raw, an ESC starts an escape
// sequence that can recolour, hide or rewrite what the terminal shows (or, on some terminals,
// set the window title or answer with input), BEL rings, CR returns to the start of the line
// and overwrites it, and a bidirectional override reorders what follows. So nothing reaches the
// terminal raw: termSafe escapes a whole value, and termWriter filters everything csetctl writes.

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
