package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
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

// TestBinary_ReadyFileAndSignal builds the binary, starts it with a ready file, calls a server and
// the control API, and stops it with SIGTERM.
func TestBinary_ReadyFileAndSignal(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	t.Parallel()
	dir := t.TempDir()
	bin := filepath.Join(dir, "ecxsim")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	cfg := filepath.Join(dir, "c.yaml")
	yaml := "clusters:\n- name: c\n  user: u\n  password: p\n  servers: [{name: s1, listen: '127.0.0.1:0'}, {name: s2, listen: '127.0.0.1:0'}]\n  groups: [{name: g}]\n"
	if err := os.WriteFile(cfg, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	ready, audit := filepath.Join(dir, "ready.json"), filepath.Join(dir, "audit.jsonl")
	cmd := exec.Command(bin, "-config", cfg, "-control", "127.0.0.1:0", "-ready-file", ready, "-audit", audit)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	var rf readyFile
	deadline := time.Now().Add(30 * time.Second)
	for {
		data, err := os.ReadFile(ready)
		if err == nil {
			if err := json.Unmarshal(data, &rf); err != nil {
				t.Fatalf("ready file: %v", err)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no ready file; stderr:\n%s", stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if rf.PID != cmd.Process.Pid || rf.ControlURL == "" || rf.Servers["c"]["s1"] == "" || rf.Servers["c"]["s2"] == "" {
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
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("exit after SIGTERM: %v\n%s", err, stderr.String())
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
