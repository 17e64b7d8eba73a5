package main

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"
)

func (a *app) jsonOutput() bool { return a.output == "json" }

// emit prints the result of a command in the one way -o asks for: v as one JSON document, or
// what text writes to a.stdout for people. Every command prints its result through emit,
// emitf or emitList, so the choice between the two formats is made in one place.
func (a *app) emit(v any, text func() error) error {
	if a.jsonOutput() {
		return printJSON(a.stdout, v)
	}
	return text()
}

// emitf is emit for a result that people read as one formatted line, such as "member east is
// now draining". A failed write of that line is not an error, as it never was: the change it
// confirms has been made.
func (a *app) emitf(v any, format string, args ...any) error {
	return a.emit(v, func() error {
		fmt.Fprintf(a.stdout, format, args...)
		return nil
	})
}

// emitList prints items as a JSON array of toJSON(item), never null, or as a table with header
// and the cells row gives each item.
func emitList[T, J any](a *app, items []T, toJSON func(T) J, header []string, row func(T) []string) error {
	if a.jsonOutput() {
		out := make([]J, 0, len(items))
		for _, it := range items {
			out = append(out, toJSON(it))
		}
		return printJSON(a.stdout, out)
	}
	t := newTable(a.stdout, header...)
	for _, it := range items {
		t.row(row(it)...)
	}
	return t.flush()
}

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
