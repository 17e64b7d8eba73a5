package main

import (
	"strings"
	"testing"
	"unicode/utf8"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestTermSafe(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want string }{
		{"Online", "Online"},
		{"", ""},
		{"サーバ1 Grüße", "サーバ1 Grüße"},
		{"\x1b[31mOffline\x1b[0m", `\x1b[31mOffline\x1b[0m`},
		{"a\abell", `a\x07bell`},
		{"Online\rOffline", `Online\rOffline`},
		{"two\nlines\tand a tab", `two\nlines\tand a tab`},
		{"\x1b]0;title\x07", `\x1b]0;title\x07`},
		{"del\x7f", `del\u007f`},
		{"c1 \u009b2J csi", `c1 \u009b2J csi`},
		{"abc\u202edcba", `abc\u202edcba`},
		{"bad \xff\xfe utf8", `bad \xff\xfe utf8`},
	} {
		if got := termSafe(tc.in); got != tc.want {
			t.Errorf("termSafe(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestTermWriter_KeepsLayoutEscapesTheRest(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	w := newTermWriter(&b)
	for _, p := range []string{"a\tb\n", "\x1b[2J\r\u009b\u202e", "ok é\n", "\xe2\x80"} {
		if n, err := w.Write([]byte(p)); n != len(p) || err != nil {
			t.Fatalf("Write(%q) = %d, %v", p, n, err)
		}
	}
	// A character cut in two: its first part passes, the rest is a stray byte and is escaped.
	if _, err := w.Write([]byte("\xae!")); err != nil {
		t.Fatal(err)
	}
	want := "a\tb\n" + `\x1b[2J\r\u009b\u202e` + "ok é\n" + "\xe2\x80" + `\xae!`
	if b.String() != want {
		t.Errorf("got %q, want %q", b.String(), want)
	}
}

// TestCLI_EscapesControlCharacters prints names and statuses that ECX reported and texts that
// admins wrote, laced with escape sequences, BEL, CR, newlines and a bidi override, through
// every kind of text output (tables, show, events, errors): nothing reaches the terminal raw,
// every table row stays one line, and -o json still carries the exact strings.
func TestCLI_EscapesControlCharacters(t *testing.T) {
	t.Parallel()
	f, addr := newSeeded(t)
	const (
		evilStatus = "\x1b[32mOnline\x1b[0m\r\x1b]0;owned\x07"
		evilHealth = "up\u009b2J"
		evilDesc   = "rack A\nrack-west  west  forged row"
		evilMsg    = "group failover-web \x1b[2Kstarted\n2023-11-14T22:13:22Z  info  forged event"
		evilErr    = "ECX answered: \x1b[8mhidden\x1b[0m"
	)
	f.mu.Lock()
	f.members["east"].Servers[0].Status = evilStatus
	f.members["east"].Health = evilHealth
	f.fds["rack-east"].Description = evilDesc
	f.workloads["web"].Status = evilStatus
	f.events[1].Message = evilMsg
	f.events[1].Actor = "ops\u202eeviL"
	f.mu.Unlock()
	f.failWith("GetWorkload", status.Error(codes.FailedPrecondition, evilErr))

	outputs := map[string]result{}
	for _, args := range [][]string{
		{"member", "list"}, {"member", "show", "east"}, {"node", "list"}, {"faultdomain", "list"},
		{"workload", "list"}, {"events"}, {"status"},
	} {
		outputs[strings.Join(args, " ")] = cli(t, addr, exitOK, args...)
	}
	outputs["workload show web (error)"] = cli(t, addr, exitError, "workload", "show", "web")
	for name, r := range outputs {
		for stream, s := range map[string]string{"stdout": r.stdout, "stderr": r.stderr} {
			if i := rawControl(s); i >= 0 {
				t.Errorf("%s: %s holds a raw control character at byte %d:\n%q", name, stream, i, s)
			}
		}
	}
	// Tables: the header plus one line per row, whatever the cells hold.
	for name, lines := range map[string]int{"member list": 3, "node list": 5, "faultdomain list": 2, "workload list": 2, "events": 2} {
		if got := strings.Count(outputs[name].stdout, "\n"); got != lines {
			t.Errorf("%s: %d lines, want %d:\n%s", name, got, lines, outputs[name].stdout)
		}
	}
	for name, want := range map[string]string{
		"node list":                 `\x1b[32mOnline\x1b[0m\r\x1b]0;owned\x07`,
		"member show east":          `up\u009b2J`,
		"faultdomain list":          `rack A\nrack-west  west  forged row`,
		"events":                    `started\n2023-11-14T22:13:22Z  info  forged event`,
		"workload show web (error)": `\x1b[8mhidden\x1b[0m`,
	} {
		r := outputs[name]
		if !strings.Contains(r.stdout+r.stderr, want) {
			t.Errorf("%s: the escaped text %s is missing:\n%s%s", name, want, r.stdout, r.stderr)
		}
	}
	if !strings.Contains(outputs["events"].stdout, `actor=ops\u202eeviL`) {
		t.Errorf("events: the bidi override in the actor is not escaped:\n%s", outputs["events"].stdout)
	}

	// JSON keeps the data exact: the escapes are JSON escapes of the same characters.
	r := cli(t, addr, exitOK, "member", "show", "east", "-o", "json")
	if i := rawControl(r.stdout); i >= 0 {
		t.Errorf("member show -o json holds a raw control character at byte %d:\n%q", i, r.stdout)
	}
	doc := decodeOne(t, r.stdout).(map[string]any)
	if doc["health"] != evilHealth {
		t.Errorf("json health = %q, want %q", doc["health"], evilHealth)
	}
	if got := doc["servers"].([]any)[0].(map[string]any)["status"]; got != evilStatus {
		t.Errorf("json server status = %q, want %q", got, evilStatus)
	}
}

// rawControl returns the byte offset of the first character a terminal would act on (other
// than tab and newline), or -1.
func rawControl(s string) int {
	for i, r := range s {
		switch {
		case r == '\t' || r == '\n':
		case r < 0x20 || r == 0x7f || (r >= 0x80 && r <= 0x9f) || isBidiControl(r):
			return i
		case r == utf8.RuneError:
			return i
		}
	}
	return -1
}
