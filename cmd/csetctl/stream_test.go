package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	apiv1 "github.com/cset-project/cset/proto/cset/api/v1"
)

func TestSnapshot_SaveRestoreRoundTrip(t *testing.T) {
	t.Parallel()
	f, addr := newSeeded(t)
	data := make([]byte, 700<<10) // several chunks each way
	if _, err := rand.Read(data); err != nil {
		t.Fatal(err)
	}
	f.snapshot = bytes.Clone(data)
	dir := t.TempDir()
	path := filepath.Join(dir, "backup.snap")
	// An older, world-readable file is replaced, not rewritten in place.
	if err := os.WriteFile(path, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}

	r := cli(t, addr, exitOK, "snapshot", "save", path)
	if want := "saved snapshot to " + path + " (716800 bytes)\n"; r.stdout != want {
		t.Errorf("stdout %q, want %q", r.stdout, want)
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data) {
		t.Fatalf("saved %d bytes differ from the %d streamed", len(got), len(data))
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %04o, want 0600", fi.Mode().Perm())
	}
	wantOnly(t, dir, "backup.snap")

	f.mu.Lock()
	f.snapshot = nil
	f.mu.Unlock()
	r = cli(t, addr, exitOK, "snapshot", "restore", path, "-o", "json")
	wantKeys(t, "snapshot restore", decodeOne(t, r.stdout), "file", "bytes", "index", "members", "workloads")
	f.mu.Lock()
	restored := f.snapshot
	f.mu.Unlock()
	if !bytes.Equal(restored, data) {
		t.Fatalf("server received %d bytes, want the %d saved", len(restored), len(data))
	}
	calls := f.getCalls()
	if calls[0].method != "SnapshotSave" || calls[0].requestID != "" {
		t.Errorf("save call %+v: a read carries no request id", calls[0])
	}
	if calls[1].method != "SnapshotRestore" || !hexID.MatchString(calls[1].requestID) {
		t.Errorf("restore call %+v: a write carries a request id", calls[1])
	}
}

// wantOnly checks that dir holds exactly names (no temporary files left).
func wantOnly(t *testing.T, dir string, names ...string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	got := []string{}
	names = nonNil(names)
	for _, e := range entries {
		got = append(got, e.Name())
	}
	if d := cmp.Diff(names, got); d != "" {
		t.Errorf("files in %s (-want +got):\n%s", dir, d)
	}
}

func TestSnapshot_Failures(t *testing.T) {
	t.Parallel()
	f, addr := newSeeded(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "s.snap")

	f.failWith("SnapshotSave", status.Error(codes.Unavailable, "no leader"))
	r := cli(t, addr, exitError, "snapshot", "save", path)
	if !strings.Contains(r.stderr, "error: no leader (Unavailable)") {
		t.Errorf("stderr %q", r.stderr)
	}
	wantOnly(t, dir)

	r = cli(t, addr, exitError, "snapshot", "save", path) // the fake's snapshot is empty
	if !strings.Contains(r.stderr, "empty snapshot") {
		t.Errorf("stderr %q", r.stderr)
	}
	wantOnly(t, dir)

	r = cli(t, addr, exitError, "snapshot", "save", filepath.Join(dir, "no", "such", "dir"))
	if !strings.Contains(r.stderr, "creating snapshot file") {
		t.Errorf("stderr %q", r.stderr)
	}

	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	r = cli(t, addr, exitError, "snapshot", "restore", empty)
	if !strings.Contains(r.stderr, "is empty") {
		t.Errorf("stderr %q", r.stderr)
	}
	for _, c := range f.getCalls() {
		if c.method == "SnapshotRestore" {
			t.Error("an empty file was sent to the server")
		}
	}
}

func TestEvents_ListSortedAndFiltered(t *testing.T) {
	t.Parallel()
	_, addr := newSeeded(t)
	r := cli(t, addr, exitOK, "events")
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], "east is up") || !strings.Contains(lines[1], "workload=web  member=east  web online on east/east-1") {
		t.Errorf("events, oldest first:\n%s", r.stdout)
	}
	r = cli(t, addr, exitOK, "events", "--workload", "web", "-o", "json")
	evs, ok := decodeOne(t, r.stdout).([]any)
	if !ok || len(evs) != 1 {
		t.Fatalf("events --workload web: %s", r.stdout)
	}
	wantKeys(t, "event", evs[0], "seq", "index", "time", "kind", "severity", "workload", "member", "operation_id", "message", "actor")
}

func TestEvents_FollowUntilCancelled(t *testing.T) {
	t.Parallel()
	for _, mode := range []string{"table", "json"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			f, addr := newSeeded(t)
			f.watch = []*apiv1.Event{
				{Seq: 2, Kind: "workload.placed", Message: "duplicate of the listed event"},
				{Seq: 3, Kind: "member.health", Severity: "warn", Member: "west", Message: "west is unreachable"},
				{Seq: 4, Kind: "operation.phase", Workload: "web", OperationId: "op-9", Message: "fencing"},
			}
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			out := &syncBuffer{}
			done := make(chan result, 1)
			go func() {
				done <- runCLI(t, addr, invocation{ctx: ctx, out: out}, "events", "--follow", "-o", mode)
			}()
			eventually(t, 10*time.Second, "the followed events", func() bool {
				return strings.Contains(out.String(), "fencing")
			})
			cancel()
			var r result
			select {
			case r = <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("events --follow did not stop when its context was cancelled")
			}
			if r.code != exitOK {
				t.Fatalf("exit %d: %s", r.code, r.stderr)
			}
			text := out.String()
			lines := strings.Split(strings.TrimSpace(text), "\n")
			if len(lines) != 4 {
				t.Fatalf("want 2 listed + 2 followed events, got:\n%s", text)
			}
			if strings.Contains(text, "duplicate") {
				t.Errorf("an event already listed was printed again:\n%s", text)
			}
			if mode == "json" {
				for _, l := range lines {
					wantKeys(t, "event line", decodeOne(t, l), "seq", "index", "time", "kind", "severity", "workload", "member", "operation_id", "message", "actor")
				}
			}
			for _, c := range f.getCalls() {
				if c.method == "WatchEvents" {
					return
				}
			}
			t.Error("--follow did not use WatchEvents")
		})
	}
}

// phases returns the operation op-web as GetOperation reports it over time.
func phases(final string) []*apiv1.Operation {
	base := func(phase string, ts int64) *apiv1.Operation {
		return &apiv1.Operation{
			Id: "op-web", Workload: "web", Reason: "planned", SourceMember: "east", SourceServer: "east-1",
			TargetMember: "west", TargetServer: "west-1", Phase: phase, Attempts: 1, UpdatedUnixNano: ts,
		}
	}
	hooked := base("handover", 1_700_000_001_000_000_000)
	hooked.Hooks = []*apiv1.HookResult{{Hook: "/etc/cset/hooks/copy.sh", ExitCode: 0, DurationMs: 1200}}
	last := base(final, 1_700_000_003_000_000_000)
	last.Hooks = hooked.Hooks
	if final == phaseFailed {
		last.Error = "group failover-web: Online Failure on west-1"
	}
	return []*apiv1.Operation{
		base("fencing", 1_700_000_000_000_000_000), base("handover", 1_700_000_001_000_000_000), hooked,
		base("starting", 1_700_000_002_000_000_000), last,
	}
}

func TestMove_WaitPrintsPhases(t *testing.T) {
	t.Parallel()
	f, addr := newSeeded(t)
	f.opSteps["op-web"] = phases(phaseDone)
	r := cli(t, addr, exitOK, "workload", "move", "web", "--to", "west", "--wait")
	want := `operation op-web: planned web from east/east-1 to west, phase fencing
2023-11-14T22:13:20Z  fencing
2023-11-14T22:13:21Z  handover (target west/west-1, attempt 1)
    hook /etc/cset/hooks/copy.sh: exit 0 in 1.2s
2023-11-14T22:13:22Z  starting (target west/west-1, attempt 1)
2023-11-14T22:13:23Z  done: web runs on west/west-1
`
	if d := cmp.Diff(want, r.stdout); d != "" {
		t.Errorf("move --wait output (-want +got):\n%s", d)
	}
	calls := f.getCalls()
	if calls[0].method != "MoveWorkload" || !hexID.MatchString(calls[0].requestID) {
		t.Errorf("first call %+v", calls[0])
	}
	for _, c := range calls[1:] {
		if c.method != "GetOperation" || c.requestID != "" {
			t.Errorf("poll %+v", c)
		}
	}
}

func TestMove_WaitFailed(t *testing.T) {
	t.Parallel()
	f, addr := newSeeded(t)
	f.opSteps["op-web"] = phases(phaseFailed)
	r := cli(t, addr, exitError, "workload", "move", "web", "--to", "west", "--wait")
	if !strings.HasSuffix(r.stdout, "failed: group failover-web: Online Failure on west-1\n") {
		t.Errorf("stdout:\n%s", r.stdout)
	}
	if !strings.Contains(r.stderr, "error: operation op-web failed (1 start attempts): group failover-web: Online Failure on west-1") {
		t.Errorf("stderr %q", r.stderr)
	}
}

func TestMove_WaitJSON(t *testing.T) {
	t.Parallel()
	f, addr := newSeeded(t)
	f.opSteps["op-web"] = phases(phaseDone)
	r := cli(t, addr, exitOK, "-o", "json", "workload", "move", "web", "--to", "west", "--wait")
	doc := wantKeys(t, "operation", decodeOne(t, r.stdout), "id", "workload", "reason", "source_member", "source_server",
		"target_member", "target_server", "phase", "attempts", "error", "created", "updated", "hooks", "force")
	if doc["phase"] != phaseDone {
		t.Errorf("final phase %v", doc["phase"])
	}
	hooks := doc["hooks"].([]any)
	wantKeys(t, "operation.hooks[]", hooks[0], "hook", "exit_code", "output_tail", "duration_ms", "error")
	if !strings.Contains(r.stderr, "  starting") {
		t.Errorf("progress belongs on stderr with -o json: %q", r.stderr)
	}
}

func TestMove_WaitTimeout(t *testing.T) {
	t.Parallel()
	_, addr := newSeeded(t) // the operation stays in fencing
	r := cli(t, addr, exitError, "workload", "move", "web", "--to", "west", "--wait", "--wait-timeout", "50ms")
	if !strings.Contains(r.stderr, "gave up waiting after --wait-timeout 50ms: operation op-web is in phase fencing") {
		t.Errorf("stderr %q", r.stderr)
	}
}
