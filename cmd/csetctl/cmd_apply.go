package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"gopkg.in/yaml.v3"

	apiv1 "github.com/cset-project/cset/proto/cset/api/v1"
)

// maxApplyFile bounds a declaration file (the masters' bound on an Apply request too).
const maxApplyFile = 16 << 20

// maxUnits is the masters' limit on a member's capacity and a workload's size (docs/cli.md,
// Limits).
const maxUnits = 1_000_000_000

func (a *app) applyCommand() *cobra.Command {
	var file string
	var dryRun, prune, force bool
	cmd := &cobra.Command{
		Use:   "apply -f FILE [--dry-run] [--prune [--force]]",
		Short: "Declare the set, members, fault domains, availability sets and workloads from a file",
		Long: `apply reads a declaration (YAML, or JSON with the same keys) and sends it to the
masters in one Apply request, which creates what is missing and updates what
differs; what already matches is left alone (an apply that changes nothing
commits nothing). The answer lists every object: + create, ~ update (with the
fields that change), - delete, = unchanged. --dry-run shows that plan and
commits nothing. --prune also deletes the members, workloads, fault domains and
availability sets the file does not name (never masters, tokens or the set);
it refuses to delete a workload that runs or a member where a group may still
run unless --force. The format is chosen by the extension (.yaml, .yml, .json)
or else by the content; -f - reads standard input. Unknown keys, keys given
twice and objects declared twice are errors. A member's password is read by
csetctl from its password_file (relative paths are relative to FILE's
directory) or else from CSET_ECX_PASSWORD; the file itself never holds a
password. See docs/cli.md for the format and its limits.`,
		Example: `  csetctl apply -f cset.yaml --dry-run
  csetctl apply -f cset.yaml
  csetctl apply -f cset.yaml --prune --dry-run
  csetctl apply -f - < cset.json`,
		Args: argNames(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if file == "" {
				return usagef("-f FILE is required (-f - reads standard input)")
			}
			if force && !prune {
				return usagef("--force applies to what --prune deletes: give --prune too")
			}
			decl, err := a.loadDeclaration(file)
			if err != nil {
				return err
			}
			r, err := call(cmd.Context(), a, service.Apply, &apiv1.ApplyRequest{Declaration: decl, DryRun: dryRun, Prune: prune, Force: force})
			if err != nil {
				return err
			}
			return a.printApply(file, r)
		},
	}
	cmd.Flags().StringVarP(&file, "file", "f", "", "declaration file, YAML or JSON; - for standard input (required)")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "show what the apply would change, object by object, and commit nothing")
	cmd.Flags().BoolVar(&prune, "prune", false, "also delete the members, workloads, fault domains and availability sets the file does not name")
	cmd.Flags().BoolVar(&force, "force", false, "with --prune: delete what is still in use too (a running workload, a member a group may run on), as 'workload unregister' and 'member remove --force' do")
	return cmd
}

// applyFile is the declaration file format documented in docs/cli.md.
type applyFile struct {
	Set              *applySet          `yaml:"set" json:"set"`
	FaultDomains     []applyFaultDomain `yaml:"fault_domains" json:"fault_domains"`
	AvailabilitySets []applyAvailSet    `yaml:"availability_sets" json:"availability_sets"`
	Members          []applyMember      `yaml:"members" json:"members"`
	Workloads        []applyWorkload    `yaml:"workloads" json:"workloads"`
}

type applySet struct {
	Name        string   `yaml:"name" json:"name"`
	Zone        string   `yaml:"zone" json:"zone"`
	TTL         duration `yaml:"ttl" json:"ttl"`
	NegativeTTL duration `yaml:"negative_ttl" json:"negative_ttl"`
}

type applyFaultDomain struct {
	Name        string   `yaml:"name" json:"name"`
	Description string   `yaml:"description" json:"description"`
	Members     []string `yaml:"members" json:"members"`
}

type applyAvailSet struct {
	Name string `yaml:"name" json:"name"`
	Soft bool   `yaml:"soft" json:"soft"`
}

type applyServer struct {
	Name string `yaml:"name" json:"name"`
	URL  string `yaml:"url" json:"url"`
}

type applyMember struct {
	Name               string            `yaml:"name" json:"name"`
	Servers            []applyServer     `yaml:"servers" json:"servers"`
	FaultDomain        string            `yaml:"fault_domain" json:"fault_domain"`
	Capacity           int64             `yaml:"capacity" json:"capacity"`
	User               string            `yaml:"user" json:"user"`
	PasswordFile       string            `yaml:"password_file" json:"password_file"`
	CAFile             string            `yaml:"ca_file" json:"ca_file"`
	InsecureSkipVerify bool              `yaml:"insecure_skip_verify" json:"insecure_skip_verify"`
	Labels             map[string]string `yaml:"labels" json:"labels"`
	HeartbeatTimeout   duration          `yaml:"heartbeat_timeout" json:"heartbeat_timeout"`
}

type applyService struct {
	Name     string `yaml:"name" json:"name"`
	Port     uint32 `yaml:"port" json:"port"`
	Priority uint32 `yaml:"priority" json:"priority"`
	Weight   uint32 `yaml:"weight" json:"weight"`
}

type applyWorkload struct {
	Name            string              `yaml:"name" json:"name"`
	Group           string              `yaml:"group" json:"group"`
	Candidates      []string            `yaml:"candidates" json:"candidates"`
	Addresses       map[string][]string `yaml:"addresses" json:"addresses"`
	Size            *int64              `yaml:"size" json:"size"`
	AvailabilitySet string              `yaml:"availability_set" json:"availability_set"`
	AutoFailover    *bool               `yaml:"auto_failover" json:"auto_failover"`
	Hooks           []string            `yaml:"hooks" json:"hooks"`
	HookTimeout     duration            `yaml:"hook_timeout" json:"hook_timeout"`
	Desired         string              `yaml:"desired" json:"desired"`
	Services        []applyService      `yaml:"services" json:"services"`
	Probe           *applyProbe         `yaml:"probe" json:"probe"`
	DependsOn       []string            `yaml:"depends_on" json:"depends_on"`
	Failback        string              `yaml:"failback" json:"failback"`
	FailbackAfter   duration            `yaml:"failback_after" json:"failback_after"`
}

// applyProbe is a workload's probe: block (docs/probe.md).
type applyProbe struct {
	Target         string   `yaml:"target" json:"target"`
	ExpectStatus   string   `yaml:"expect_status" json:"expect_status"`
	Timeout        duration `yaml:"timeout" json:"timeout"`
	Interval       duration `yaml:"interval" json:"interval"`
	Grace          duration `yaml:"grace" json:"grace"`
	HealthyAfter   uint32   `yaml:"healthy_after" json:"healthy_after"`
	UnhealthyAfter uint32   `yaml:"unhealthy_after" json:"unhealthy_after"`
	DNS            string   `yaml:"dns" json:"dns"`
	Failover       bool     `yaml:"failover" json:"failover"`
}

// duration is a Go duration string in the file, e.g. "30s" or "5m".
type duration time.Duration

func parseDurationValue(s string) (duration, error) {
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration: write e.g. 30s, 5m or 1h", s)
	}
	return duration(d), nil
}

func (d *duration) UnmarshalYAML(n *yaml.Node) error {
	var s string
	if n.Kind != yaml.ScalarNode || n.Decode(&s) != nil {
		return fmt.Errorf("line %d: want a duration such as 30s", n.Line)
	}
	v, err := parseDurationValue(s)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	*d = v
	return nil
}

func (d *duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("want a duration string such as \"30s\", got %s", b)
	}
	v, err := parseDurationValue(s)
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// loadDeclaration reads, decodes and checks the file and reads the
// members' passwords.
func (a *app) loadDeclaration(file string) (*apiv1.Declaration, error) {
	var data []byte
	var err error
	baseDir := "."
	if file == "-" {
		data, err = io.ReadAll(io.LimitReader(a.stdin, maxApplyFile+1))
	} else {
		baseDir = filepath.Dir(file)
		var f *os.File
		f, err = os.Open(file)
		if err == nil {
			data, err = io.ReadAll(io.LimitReader(f, maxApplyFile+1))
			_ = f.Close()
		}
	}
	if err != nil {
		return nil, fmt.Errorf("reading declaration: %w", err)
	}
	if len(data) > maxApplyFile {
		return nil, fmt.Errorf("%s is larger than %d bytes", file, maxApplyFile)
	}
	af, err := decodeApplyFile(file, data)
	if err != nil {
		return nil, &usageError{msg: fmt.Sprintf("%s: %s", file, err)}
	}
	decl, err := a.declaration(af, baseDir)
	if err != nil {
		var ue *usageError
		if errors.As(err, &ue) {
			return nil, &usageError{msg: fmt.Sprintf("%s: %s", file, ue.msg)}
		}
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	return decl, nil
}

// decodeApplyFile decodes data as JSON or YAML, strictly.
func decodeApplyFile(name string, data []byte) (*applyFile, error) {
	var af applyFile
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 {
		return nil, errors.New("the file is empty")
	}
	ext := strings.ToLower(filepath.Ext(name))
	isJSON := ext == ".json" || (ext != ".yaml" && ext != ".yml" && trimmed[0] == '{')
	if isJSON {
		if err := jsonDuplicateKey(data); err != nil {
			return nil, err
		}
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&af); err != nil {
			return nil, jsonError(data, err)
		}
		if dec.More() {
			return nil, errors.New("unexpected data after the JSON object: give one object")
		}
		return &af, nil
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&af); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("the file is empty")
		}
		return nil, yamlError(err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, errors.New("more than one YAML document: give one")
	}
	return &af, nil
}

// jsonDuplicateKey refuses a key given twice in one JSON object, of which encoding/json would
// silently keep the last. (yaml.v3 refuses duplicate keys itself.) Syntax errors are left to
// the decoder, which reports them with their line.
func jsonDuplicateKey(data []byte) error {
	type object struct {
		keys      map[string]bool
		expectKey bool
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	var stack []*object // nil entries are arrays
	valueDone := func() {
		if n := len(stack); n > 0 && stack[n-1] != nil {
			stack[n-1].expectKey = true
		}
	}
	for {
		tok, err := dec.Token()
		if err != nil {
			return nil
		}
		switch v := tok.(type) {
		case json.Delim:
			switch v {
			case '{':
				stack = append(stack, &object{keys: map[string]bool{}, expectKey: true})
			case '[':
				stack = append(stack, nil)
			default:
				stack = stack[:len(stack)-1]
				valueDone()
			}
		case string:
			if n := len(stack); n > 0 && stack[n-1] != nil && stack[n-1].expectKey {
				top := stack[n-1]
				if top.keys[v] {
					line := 1 + bytes.Count(data[:dec.InputOffset()], []byte("\n"))
					return fmt.Errorf("line %d: key %s is given twice in one object: give it once", line, quote(v))
				}
				top.keys[v], top.expectKey = true, false
				continue
			}
			valueDone()
		default:
			valueDone()
		}
	}
}

// typeNouns names the file's sections in error messages.
var typeNouns = map[string]string{
	"applyFile": "the top level", "applySet": "set", "applyFaultDomain": "a fault domain",
	"applyAvailSet": "an availability set", "applyServer": "a server", "applyMember": "a member",
	"applyService": "a service", "applyWorkload": "a workload", "applyProbe": "a probe",
}

var yamlUnknown = regexp.MustCompile(`field (\S+) not found in type main\.(\w+)`)

// yamlError rewrites yaml.v3's messages so that unknown keys read as such.
func yamlError(err error) error {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return err
	}
	msgs := make([]string, 0, len(te.Errors))
	for _, m := range te.Errors {
		msgs = append(msgs, yamlUnknown.ReplaceAllStringFunc(m, func(s string) string {
			p := yamlUnknown.FindStringSubmatch(s)
			return fmt.Sprintf("unknown key %q in %s", p[1], typeNouns[p[2]])
		}))
	}
	return errors.New(strings.Join(msgs, "; "))
}

// jsonError adds a line number and plain words to a JSON decoding error.
func jsonError(data []byte, err error) error {
	lineAt := func(offset int64) int {
		return 1 + bytes.Count(data[:min(max(int(offset), 0), len(data))], []byte("\n"))
	}
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return fmt.Errorf("line %d: %s", lineAt(se.Offset), se)
	case errors.As(err, &te) && te.Field != "":
		return fmt.Errorf("line %d: %s: want %s, got a JSON %s", lineAt(te.Offset), te.Field, te.Type, te.Value)
	}
	msg := strings.TrimPrefix(err.Error(), "json: ")
	if field, ok := strings.CutPrefix(msg, "unknown field "); ok {
		// The decoder reports no position: find the key's first use.
		key := regexp.MustCompile(regexp.QuoteMeta(field) + `\s*:`)
		if loc := key.FindIndex(data); loc != nil {
			return fmt.Errorf("line %d: unknown key %s", lineAt(int64(loc[0])), field)
		}
		return fmt.Errorf("unknown key %s", field)
	}
	return errors.New(msg)
}

// declaration checks the file and maps it to the API, reading passwords.
func (a *app) declaration(af *applyFile, baseDir string) (*apiv1.Declaration, error) {
	decl := &apiv1.Declaration{}
	if af.Set == nil && len(af.Members) == 0 && len(af.FaultDomains) == 0 && len(af.AvailabilitySets) == 0 && len(af.Workloads) == 0 {
		return nil, usagef("declares nothing: give at least one of set, fault_domains, availability_sets, members, workloads")
	}
	if err := uniqueNames(af); err != nil {
		return nil, &usageError{msg: err.Error()}
	}
	if s := af.Set; s != nil {
		set, err := setDeclaration(s)
		if err != nil {
			return nil, &usageError{msg: "set: " + err.Error()}
		}
		decl.Set = set
	}
	for _, fd := range af.FaultDomains {
		if err := checkName("fault domain", fd.Name); err != nil {
			return nil, &usageError{msg: "fault_domains: " + err.Error()}
		}
		if err := checkList("member", fd.Members); err != nil {
			return nil, usagef("fault domain %s: members: %s", fd.Name, err)
		}
		decl.FaultDomains = append(decl.FaultDomains, &apiv1.CreateFaultDomainRequest{Name: fd.Name, Description: fd.Description, Members: fd.Members})
	}
	for _, as := range af.AvailabilitySets {
		if err := checkName("availability set", as.Name); err != nil {
			return nil, &usageError{msg: "availability_sets: " + err.Error()}
		}
		decl.AvailabilitySets = append(decl.AvailabilitySets, &apiv1.CreateAvailabilitySetRequest{Name: as.Name, Soft: as.Soft})
	}
	for i := range af.Members {
		m, err := a.memberDeclaration(&af.Members[i], baseDir)
		if err != nil {
			return nil, err
		}
		decl.Members = append(decl.Members, m)
	}
	for i := range af.Workloads {
		w, err := workloadDeclaration(&af.Workloads[i])
		if err != nil {
			where := "workloads"
			if n := af.Workloads[i].Name; n != "" {
				where = "workload " + n
			}
			return nil, usagef("%s: %s", where, err)
		}
		decl.Workloads = append(decl.Workloads, w)
	}
	return decl, nil
}

// uniqueNames refuses a file that declares an object twice (the masters would keep the last
// silently) or puts a member in two fault domains.
func uniqueNames(af *applyFile) error {
	dup := func(section string, names []string) error {
		seen := map[string]int{}
		for i, n := range names {
			if j, ok := seen[n]; ok {
				return fmt.Errorf("%s: %s is declared twice (entries %d and %d): declare each once", section, quote(n), j+1, i+1)
			}
			seen[n] = i
		}
		return nil
	}
	names := func(n int, name func(int) string) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = name(i)
		}
		return out
	}
	if err := dup("fault_domains", names(len(af.FaultDomains), func(i int) string { return af.FaultDomains[i].Name })); err != nil {
		return err
	}
	if err := dup("availability_sets", names(len(af.AvailabilitySets), func(i int) string { return af.AvailabilitySets[i].Name })); err != nil {
		return err
	}
	if err := dup("members", names(len(af.Members), func(i int) string { return af.Members[i].Name })); err != nil {
		return err
	}
	for _, m := range af.Members {
		if err := dup("member "+m.Name+": servers", names(len(m.Servers), func(i int) string { return m.Servers[i].Name })); err != nil {
			return err
		}
	}
	if err := dup("workloads", names(len(af.Workloads), func(i int) string { return af.Workloads[i].Name })); err != nil {
		return err
	}
	fdOf := map[string]string{}
	for _, fd := range af.FaultDomains {
		for _, m := range fd.Members {
			if other, ok := fdOf[m]; ok && other != fd.Name {
				return fmt.Errorf("fault_domains: member %s is in %s and %s: a member is in one fault domain", quote(m), quote(other), quote(fd.Name))
			}
			fdOf[m] = fd.Name
		}
	}
	return nil
}

func setDeclaration(s *applySet) (*apiv1.InitSetRequest, error) {
	if err := checkName("cluster set", s.Name); err != nil {
		return nil, err
	}
	if s.Zone == "" {
		return nil, errors.New("zone is required, e.g. zone: cset.example.com.")
	}
	zone, err := canonicalZone(s.Zone)
	if err != nil {
		return nil, errors.New(strings.TrimPrefix(err.Error(), "--"))
	}
	ttl, err := ttlSeconds("ttl", time.Duration(s.TTL))
	if err != nil {
		return nil, err
	}
	neg, err := ttlSeconds("negative_ttl", time.Duration(s.NegativeTTL))
	if err != nil {
		return nil, err
	}
	return &apiv1.InitSetRequest{Name: s.Name, Zone: zone, TtlSeconds: ttl, NegativeTtlSeconds: neg}, nil
}

func (a *app) memberDeclaration(m *applyMember, baseDir string) (*apiv1.AddMemberRequest, error) {
	bad := func(format string, args ...any) error {
		return usagef("member %s: %s", m.Name, fmt.Sprintf(format, args...))
	}
	if err := checkName("member", m.Name); err != nil {
		return nil, usagef("members: %s", err)
	}
	req := &apiv1.AddMemberRequest{
		Name: m.Name, FaultDomain: m.FaultDomain, Capacity: m.Capacity, User: m.User, CaFile: m.CAFile,
		InsecureSkipVerify: m.InsecureSkipVerify, Labels: m.Labels, Update: true,
	}
	if len(m.Servers) == 0 {
		return nil, bad("servers: give at least one {name, url}")
	}
	for _, s := range m.Servers {
		if s.Name == "" {
			return nil, bad("servers: a server has no name")
		}
		if err := checkURL(s.URL); err != nil {
			return nil, bad("server %s: %s", s.Name, err)
		}
		req.Servers = append(req.Servers, &apiv1.ServerSpec{Name: s.Name, Url: s.URL})
	}
	if m.FaultDomain != "" {
		if err := checkName("fault domain", m.FaultDomain); err != nil {
			return nil, bad("fault_domain: %s", err)
		}
	}
	if m.Capacity < 0 || m.Capacity > maxUnits {
		return nil, bad("capacity %d: want 0 (unlimited) to %d", m.Capacity, maxUnits)
	}
	hb := time.Duration(m.HeartbeatTimeout)
	if hb < 0 || hb%time.Millisecond != 0 {
		return nil, bad("heartbeat_timeout %s: want whole milliseconds", hb)
	}
	req.HeartbeatTimeoutMs = uint32(hb / time.Millisecond)
	if m.PasswordFile != "" && m.User == "" {
		return nil, bad("password_file needs user")
	}
	switch {
	case m.PasswordFile != "":
		path := m.PasswordFile
		if !filepath.IsAbs(path) {
			path = filepath.Join(baseDir, path)
		}
		pw, err := readPasswordFile(path, func(msg string) { fmt.Fprintln(a.stderr, msg) })
		if err != nil {
			return nil, fmt.Errorf("member %s: %w", m.Name, err)
		}
		req.Password = pw
	case m.User != "":
		req.Password = a.getenv(envPassword)
		if req.Password == "" {
			return nil, bad("user %s needs a password: add password_file: PATH or set %s", m.User, envPassword)
		}
	}
	return req, nil
}

func workloadDeclaration(w *applyWorkload) (*apiv1.RegisterWorkloadRequest, error) {
	fl := registerFlags{
		group: w.Group, candidates: w.Candidates, availabilitySet: w.AvailabilitySet, size: 1,
		hooks: w.Hooks, hookTimeout: time.Duration(w.HookTimeout), update: true,
	}
	if p := w.Probe; p != nil {
		if p.Target == "" {
			return nil, errors.New("probe: target is required, e.g. target: tcp:5432 or target: http://:8080/health (or none)")
		}
		fl.probe = probeFlags{target: p.Target, expectStatus: p.ExpectStatus, timeout: time.Duration(p.Timeout), interval: time.Duration(p.Interval),
			grace: time.Duration(p.Grace), healthyAfter: p.HealthyAfter, unhealthyAfter: p.UnhealthyAfter, dns: p.DNS, failover: p.Failover}
	}
	fl.dependsOn, fl.failback, fl.failbackAfter = w.DependsOn, w.Failback, time.Duration(w.FailbackAfter)
	if w.Size != nil {
		fl.size = *w.Size
		if fl.size > maxUnits {
			return nil, fmt.Errorf("size %d: at most %d", fl.size, maxUnits)
		}
	}
	if w.AutoFailover != nil {
		fl.noAutoFailover = !*w.AutoFailover
	}
	switch w.Desired {
	case "", "online":
	case "offline":
		fl.offline = true
	default:
		return nil, fmt.Errorf("desired %q: use online or offline", w.Desired)
	}
	for _, m := range sortedKeys(w.Addresses) {
		fl.addresses = append(fl.addresses, m+"="+strings.Join(w.Addresses[m], ","))
	}
	req, err := registerRequest(w.Name, &fl)
	if err != nil {
		return nil, errors.New(fileWords.Replace(err.Error()))
	}
	for _, s := range w.Services {
		if s.Name == "" || s.Port == 0 || s.Port > 65535 {
			return nil, fmt.Errorf("services: want {name, port} with a port from 1 to 65535, got name %q port %d", s.Name, s.Port)
		}
		if err := checkServiceName(s.Name); err != nil {
			return nil, fmt.Errorf("services: %s", strings.Replace(err.Error(), "NAME is", "name is", 1))
		}
		req.Services = append(req.Services, &apiv1.Service{Name: s.Name, Port: s.Port, Priority: s.Priority, Weight: s.Weight})
	}
	return req, nil
}

// fileWords turns the flag names in registerRequest's messages into the
// file's keys.
var fileWords = strings.NewReplacer(
	"--group", "group", "--candidates", "candidates", "--address", "addresses",
	"--availability-set", "availability_set", "--size", "size", "--hook-timeout", "hook_timeout",
	"--hook", "hooks", "--probe-dns", "probe: dns", "--probe-timeout", "probe: timeout", "--probe-interval", "probe: interval",
	"--depends-on", "depends_on", "--failback-after", "failback_after", "--failback", "failback",
	"--probe-grace", "probe: grace", "--probe-* options need --probe", "probe: options need a target", "--probe", "probe: target", "e.g. --", "e.g. ",
)
