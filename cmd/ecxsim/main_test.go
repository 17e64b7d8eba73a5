package main

import (
	"bytes"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cset-project/cset/internal/proctest"
)

func TestRun_Help(t *testing.T) {
	t.Parallel()
	var out, errOut bytes.Buffer
	if code := run([]string{"--help"}, &out, &errOut); code != 0 {
		t.Fatalf("--help exit %d", code)
	}
	for _, flag := range []string{"-config", "-control", "-audit", "-ready-file", "-log-level", "SIGTERM", "docs/ecxsim.md"} {
		if !strings.Contains(errOut.String(), flag) {
			t.Errorf("help lacks %q:\n%s", flag, errOut.String())
		}
	}
}

func TestRun_BadInvocations(t *testing.T) {
	t.Parallel()
	var out, errOut bytes.Buffer
	if code := run(nil, &out, &errOut); code != 2 {
		t.Errorf("no -config: exit %d", code)
	}
	errOut.Reset()
	if code := run([]string{"-config", "../../ecxsim/testdata/invalid.yaml"}, &out, &errOut); code != 1 || !strings.Contains(errOut.String(), "duplicate cluster name") {
		t.Errorf("invalid config: exit %d, %s", code, errOut.String())
	}
}

// ecxsimBin is this package's binary, built on first use.
var ecxsimBin = proctest.NewBinary("./cmd/ecxsim")

func TestMain(m *testing.M) {
	os.Exit(proctest.Main(m))
}

// TestBinary_ReadyFileAndSignal builds the binary, starts it with a ready file, calls a server and
// the control API, and stops it with SIGTERM.
func TestBinary_ReadyFileAndSignal(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	t.Parallel()
	dir := t.TempDir()
	bin := ecxsimBin.Path(t)
	cfg := filepath.Join(dir, "c.yaml")
	yaml := "clusters:\n- name: c\n  user: u\n  password: p\n  servers: [{name: s1, listen: '127.0.0.1:0'}, {name: s2, listen: '127.0.0.1:0'}]\n  groups: [{name: g}]\n"
	if err := os.WriteFile(cfg, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	audit := filepath.Join(dir, "audit.jsonl")
	// stdout is checked below; stderr stays in the log, whose tail the errors of proctest show.
	var stdout bytes.Buffer
	p := proctest.New(t, bin, proctest.Options{Stdout: &stdout})
	if err := p.Start("-config", cfg, "-control", "127.0.0.1:0", "-ready-file", p.ReadyFile(), "-audit", audit); err != nil {
		t.Fatal(err)
	}
	var rf readyFile
	if err := p.WaitReady(30*time.Second, proctest.JSON(&rf)); err != nil {
		t.Fatal(err)
	}
	if rf.PID != p.Pid() || rf.ControlURL == "" || rf.Servers["c"]["s1"] == "" || rf.Servers["c"]["s2"] == "" {
		t.Fatalf("ready file: %+v", rf)
	}
	req, _ := http.NewRequest(http.MethodPost, rf.Servers["c"]["s2"]+"/api/v1/groups/g/start", nil)
	req.SetBasicAuth("u", "p")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("start: HTTP %d", resp.StatusCode)
	}
	resp, err = http.Get(rf.ControlURL + "/sim/v1/state")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("state: HTTP %d", resp.StatusCode)
	}
	// A clean shutdown takes milliseconds; the bound only keeps a hung simulator from holding
	// the test until its timeout.
	if err := p.Terminate(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"server c/s1 " + rf.Servers["c"]["s1"], "control " + rf.ControlURL} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("stdout lacks %q:\n%s", want, stdout.String())
		}
	}
	data, err := os.ReadFile(audit)
	if err != nil || !strings.Contains(string(data), `"group":"g"`) || !strings.Contains(string(data), `"online_until":"`) {
		t.Fatalf("audit file after shutdown: %v\n%s", err, data)
	}
}

// TestBinary_ReadyFileNamesTheCAFiles: a cluster that serves HTTPS names the file its CA was
// written to in the ready file, so a script can hand it to csetctl member add --ca-file and to
// the guards; a plain HTTP cluster has none.
func TestBinary_ReadyFileNamesTheCAFiles(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	t.Parallel()
	dir := t.TempDir()
	ca := filepath.Join(dir, "east-ca.pem")
	cfg := filepath.Join(dir, "c.yaml")
	yaml := "clusters:\n" +
		"- name: east\n  user: u\n  password: p\n  servers: [{name: e1, listen: '127.0.0.1:0'}]\n  groups: [{name: g}]\n  tls: {ca_out: '" + ca + "'}\n" +
		"- name: west\n  user: u\n  password: p\n  servers: [{name: w1, listen: '127.0.0.1:0'}]\n  groups: [{name: g}]\n"
	if err := os.WriteFile(cfg, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	p := proctest.New(t, ecxsimBin.Path(t), proctest.Options{})
	if err := p.Start("-config", cfg, "-control", "127.0.0.1:0", "-ready-file", p.ReadyFile()); err != nil {
		t.Fatal(err)
	}
	var rf readyFile
	if err := p.WaitReady(30*time.Second, proctest.JSON(&rf)); err != nil {
		t.Fatal(err)
	}
	if len(rf.CAFiles) != 1 || rf.CAFiles["east"] != ca || !strings.HasPrefix(rf.Servers["east"]["e1"], "https://") {
		t.Fatalf("ready file %+v: want the CA file of east only", rf)
	}
	if pem, err := os.ReadFile(ca); err != nil || !strings.Contains(string(pem), "BEGIN CERTIFICATE") {
		t.Fatalf("CA file: %v", err)
	}
	if err := p.Terminate(30 * time.Second); err != nil {
		t.Fatal(err)
	}
}
