package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

func readDocs(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "docs", "cli.md"))
	if err != nil {
		t.Fatalf("docs/cli.md: %v", err)
	}
	return string(b)
}

// TestDocs_EveryCommandAndFlag keeps docs/cli.md complete: every command
// path and every flag of the tree must appear in it.
func TestDocs_EveryCommandAndFlag(t *testing.T) {
	t.Parallel()
	doc := readDocs(t)
	root := newApp(nil, nil, nil, func(string) string { return "" }).rootCommand()
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		path := c.CommandPath()
		if !strings.Contains(doc, path) {
			t.Errorf("docs/cli.md does not mention %q", path)
		}
		c.LocalFlags().VisitAll(func(f *pflag.Flag) {
			if f.Name != "help" && !strings.Contains(doc, "--"+f.Name) {
				t.Errorf("docs/cli.md does not mention %s --%s", path, f.Name)
			}
		})
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	root.InitDefaultCompletionCmd()
	for _, c := range root.Commands() {
		if c.Name() != "completion" && c.Name() != "help" {
			walk(c)
		}
	}
	root.PersistentFlags().VisitAll(func(f *pflag.Flag) {
		if !strings.Contains(doc, "--"+f.Name) {
			t.Errorf("docs/cli.md does not mention the global flag --%s", f.Name)
		}
	})
	for _, env := range []string{envAddr, envPassword, envRequestID, envToken, envTLSCA, envTLSCert, envTLSKey} {
		if !strings.Contains(doc, env) {
			t.Errorf("docs/cli.md does not mention %s", env)
		}
	}
}

var jsonExample = regexp.MustCompile("(?s)<!-- json: ([^>]*) -->\n```json\n(.*?)```")

// TestDocs_JSONExamples runs the command of every JSON example in
// docs/cli.md and compares the shape (keys and value types, recursively)
// of its output with the example.
func TestDocs_JSONExamples(t *testing.T) {
	t.Parallel()
	doc := readDocs(t)
	examples := jsonExample.FindAllStringSubmatch(doc, -1)
	if len(examples) < 8 {
		t.Fatalf("found %d JSON examples in docs/cli.md", len(examples))
	}
	_, addr := newSeeded(t)
	for _, ex := range examples {
		args := strings.Fields(ex[1])
		var want any
		if err := json.Unmarshal([]byte(ex[2]), &want); err != nil {
			t.Errorf("docs example %q is not JSON: %v", ex[1], err)
			continue
		}
		r := cli(t, addr, exitOK, append(args, "-o", "json")...)
		got := decodeOne(t, r.stdout)
		if d := cmp.Diff(shape(want, ""), shape(got, "")); d != "" {
			t.Errorf("docs example of %q differs from the output (-doc +got):\n%s", ex[1], d)
		}
	}
}

// shape replaces values by their JSON types, keeps object keys (except in
// the data-keyed maps) and represents an array by its first element.
func shape(v any, key string) any {
	switch x := v.(type) {
	case map[string]any:
		if key == "addresses" || key == "labels" {
			return "map"
		}
		out := map[string]any{}
		for k, e := range x {
			out[k] = shape(e, k)
		}
		return out
	case []any:
		if len(x) == 0 {
			return "empty array"
		}
		return []any{shape(x[0], key)}
	case string:
		return "string"
	case float64:
		return "number"
	case bool:
		return "bool"
	default:
		return "null"
	}
}
