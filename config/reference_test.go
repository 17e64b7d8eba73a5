package config

import (
	"flag"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

var updateReference = flag.Bool("update-reference", false, "rewrite the generated part of docs/config.md from the config structs")

// refRow is one key of the configuration file in docs/config.md.
type refRow struct {
	key, typ, def, flag, doc string
}

// fieldDocs reads the doc comments of the config structs' fields from this package's source:
// "Type.Field" -> the comment, on one line.
func fieldDocs(t *testing.T) map[string]string {
	t.Helper()
	fset := token.NewFileSet()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		af, err := parser.ParseFile(fset, f, nil, parser.ParseComments)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(af, func(n ast.Node) bool {
			ts, ok := n.(*ast.TypeSpec)
			if !ok {
				return true
			}
			st, ok := ts.Type.(*ast.StructType)
			if !ok {
				return true
			}
			for _, fl := range st.Fields.List {
				text := ""
				if fl.Doc != nil {
					text = fl.Doc.Text()
				} else if fl.Comment != nil {
					text = fl.Comment.Text()
				}
				text = strings.Join(strings.Fields(text), " ")
				for _, name := range fl.Names {
					out[ts.Name.Name+"."+name.Name] = strings.TrimPrefix(text, name.Name+" ")
				}
			}
			return true
		})
	}
	return out
}

// leaves walks v (a struct) and calls fn for every configuration key: its dotted YAML path, the
// field, its value and the struct type it belongs to. Pointers to structs and slices of
// structs are walked into (a nil pointer with the zero value of its type; a slice as "key[]").
func leaves(prefix string, v reflect.Value, fn func(key string, f reflect.StructField, val reflect.Value, owner reflect.Type)) {
	t := v.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "" || name == "-" {
			continue
		}
		key := prefix + name
		fv := v.Field(i)
		switch {
		case f.Type.Kind() == reflect.Struct && f.Type != reflect.TypeOf(time.Duration(0)):
			leaves(key+".", fv, fn)
		case f.Type.Kind() == reflect.Pointer && f.Type.Elem().Kind() == reflect.Struct:
			if fv.IsNil() {
				fv = reflect.New(f.Type.Elem())
			}
			leaves(key+".", fv.Elem(), fn)
		case f.Type.Kind() == reflect.Slice && f.Type.Elem().Kind() == reflect.Struct:
			leaves(key+"[].", reflect.New(f.Type.Elem()).Elem(), fn)
		default:
			fn(key, f, fv, t)
		}
	}
}

func typeName(t reflect.Type) string {
	switch {
	case t == reflect.TypeOf(time.Duration(0)):
		return "duration"
	case t.Kind() == reflect.Slice:
		return "list of " + typeName(t.Elem())
	}
	return t.Kind().String()
}

func valueText(v reflect.Value) string {
	switch {
	case v.Type() == reflect.TypeOf(time.Duration(0)):
		if v.Int() == 0 {
			return "0"
		}
		return time.Duration(v.Int()).String()
	case v.Kind() == reflect.Slice:
		if v.Len() == 0 {
			return ""
		}
		var parts []string
		for i := range v.Len() {
			parts = append(parts, fmt.Sprint(v.Index(i).Interface()))
		}
		return strings.Join(parts, ", ")
	}
	return fmt.Sprint(v.Interface())
}

// flagKeys finds, for every flag of RegisterFlags, the configuration key it sets: each flag is
// set on a fresh default configuration and the one key that changed is its key.
func flagKeys(t *testing.T) map[string]string {
	t.Helper()
	snapshot := func(c *Config) map[string]string {
		out := map[string]string{}
		leaves("", reflect.ValueOf(c).Elem(), func(key string, _ reflect.StructField, v reflect.Value, _ reflect.Type) {
			out[key] = valueText(v)
		})
		return out
	}
	probe := NewFlagSetForTest()
	keys := map[string]string{}
	probe.VisitAll(func(fl *flag.Flag) {
		c := Default()
		fs := flag.NewFlagSet("probe", flag.ContinueOnError)
		c.RegisterFlags(fs)
		before := snapshot(&c)
		sample := "10.9.9.0/24"
		if g, ok := fl.Value.(flag.Getter); ok {
			switch g.Get().(type) {
			case bool:
				sample = fmt.Sprint(!g.Get().(bool))
			case time.Duration:
				sample = "97s"
			case int, uint64, int64, uint:
				sample = "97"
			case string:
				sample = "sample-value"
			}
		}
		if err := fs.Set(fl.Name, sample); err != nil {
			t.Fatalf("-%s %s: %v", fl.Name, sample, err)
		}
		var changed []string
		for k, v := range snapshot(&c) {
			if before[k] != v {
				changed = append(changed, k)
			}
		}
		if len(changed) != 1 {
			t.Fatalf("-%s changes %v, want exactly one key", fl.Name, changed)
		}
		keys[changed[0]] = "-" + fl.Name
	})
	return keys
}

// NewFlagSetForTest returns a FlagSet with the master's flags registered on a default Config.
func NewFlagSetForTest() *flag.FlagSet {
	c := Default()
	fs := flag.NewFlagSet("csetd agent", flag.ContinueOnError)
	c.RegisterFlags(fs)
	return fs
}

func referenceRows(t *testing.T) []refRow {
	docs := fieldDocs(t)
	flags := flagKeys(t)
	usage := map[string]string{}
	NewFlagSetForTest().VisitAll(func(fl *flag.Flag) { usage["-"+fl.Name] = fl.Usage })
	def := Default()
	var rows []refRow
	leaves("", reflect.ValueOf(&def).Elem(), func(key string, f reflect.StructField, v reflect.Value, owner reflect.Type) {
		doc := docs[owner.Name()+"."+f.Name]
		for _, verb := range []string{"is ", "are ", "holds ", "bounds ", "requires "} {
			if rest, ok := strings.CutPrefix(doc, verb); ok && verb != "holds " && verb != "bounds " && verb != "requires " {
				doc = rest
			}
		}
		if doc == "" {
			doc = usage[flags[key]]
		}
		if doc != "" {
			doc = strings.ToUpper(doc[:1]) + doc[1:]
		}
		rows = append(rows, refRow{key: key, typ: typeName(f.Type), def: valueText(v), flag: flags[key], doc: doc})
	})
	return rows
}

func renderReference(rows []refRow) string {
	var b strings.Builder
	b.WriteString("| key | type | default | flag | meaning |\n|---|---|---|---|---|\n")
	cell := func(s string) string {
		if s == "" {
			return "–"
		}
		return "`" + s + "`"
	}
	for _, r := range rows {
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s | %s |\n", r.key, r.typ, cell(r.def), cell(r.flag), strings.ReplaceAll(r.doc, "|", "\\|"))
	}
	return b.String()
}

const (
	refBegin = "<!-- begin generated: go test ./config -run TestConfigReference -update-reference -->\n"
	refEnd   = "<!-- end generated -->\n"
)

// docs/config.md lists every key of the configuration file, with its type, default, flag and
// the doc comment of its field, generated from the config structs; every key has a row and
// every flag is named.
func TestConfigReference(t *testing.T) {
	path := filepath.Join("..", "docs", "config.md")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	i, j := strings.Index(doc, refBegin), strings.Index(doc, refEnd)
	if i < 0 || j < i {
		t.Fatalf("%s lacks the generated section's markers %q ... %q", path, refBegin, refEnd)
	}
	want := renderReference(referenceRows(t))
	got := doc[i+len(refBegin) : j]
	if got == want {
		return
	}
	if *updateReference {
		if err := os.WriteFile(path, []byte(doc[:i+len(refBegin)]+want+doc[j:]), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Errorf("%s is not what the config structs say: run go test ./config -run TestConfigReference -update-reference", path)
}
