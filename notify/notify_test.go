package notify_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cset-project/cset/config"
	"github.com/cset-project/cset/fsm"
	"github.com/cset-project/cset/internal/testutil"
	"github.com/cset-project/cset/notify"
	fsmv1 "github.com/cset-project/cset/proto/cset/fsm/v1"
)

// world is a real FSM behind the Source and Committer a Sender uses, so cursors and events
// follow the state machine's rules.
type world struct {
	*fsm.FSM
	mu  sync.Mutex
	idx uint64
	// failCommits makes CommitCursor fail (a deposed leader).
	failCommits bool
	set         string
}

func newWorld() *world { return &world{FSM: fsm.New(nil), set: "prod"} }

func (w *world) ClusterSetName() string { w.mu.Lock(); defer w.mu.Unlock(); return w.set }

func (w *world) apply(e *fsmv1.LogEntry) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.idx++
	return w.ApplyEntry(w.idx, e).Err
}

func (w *world) CommitCursor(_ context.Context, sink string, seq uint64) error {
	w.mu.Lock()
	fail := w.failCommits
	w.mu.Unlock()
	if fail {
		return errors.New("not the leader")
	}
	return w.apply(&fsmv1.LogEntry{Command: &fsmv1.LogEntry_SetNotifyCursor{SetNotifyCursor: &fsmv1.SetNotifyCursorCommand{Sink: sink, Seq: seq}}})
}

func (w *world) Event(_ context.Context, e *fsmv1.Event) error {
	return w.apply(&fsmv1.LogEntry{Command: &fsmv1.LogEntry_AppendEvents{AppendEvents: &fsmv1.AppendEventsCommand{Events: []*fsmv1.Event{e}}}})
}

// events appends events; each string is kind/severity/workload.
func (w *world) events(t testing.TB, specs ...string) {
	t.Helper()
	var evs []*fsmv1.Event
	for _, s := range specs {
		p := strings.Split(s+"//", "/")
		evs = append(evs, &fsmv1.Event{Kind: p[0], Severity: p[1], Workload: p[2], Message: "event " + s})
	}
	if err := w.apply(&fsmv1.LogEntry{ProposedAtUnixNano: 1_700_000_000_123_456_789, Actor: "test", Command: &fsmv1.LogEntry_AppendEvents{AppendEvents: &fsmv1.AppendEventsCommand{Events: evs}}}); err != nil {
		t.Fatal(err)
	}
}

func (w *world) cursor(t testing.TB, sink string) uint64 {
	t.Helper()
	seq, _ := w.NotifyCursor(sink)
	return seq
}

// recorder is a Deliverer that keeps what it got and fails while failN > 0.
type recorder struct {
	mu    sync.Mutex
	got   []*notify.Notification
	failN int
	tries int
}

func (r *recorder) Deliver(_ context.Context, n *notify.Notification) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.tries++
	if r.failN > 0 {
		r.failN--
		return errors.New("receiver down")
	}
	r.got = append(r.got, n)
	return nil
}

func (r *recorder) Close() error { return nil }

func (r *recorder) seqs() []uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []uint64
	for _, n := range r.got {
		out = append(out, n.Seq)
	}
	return out
}

var poll = testutil.Poll{Timeout: 10 * time.Second}

func sink(name string) config.NotifySink {
	return config.NotifySink{Name: name, Type: config.SinkWebhook, URL: "http://unused", MinSeverity: "info", Timeout: 2 * time.Second, MaxBackoff: 40 * time.Millisecond}
}

// run starts a sender for one leadership; the returned stop ends it and waits.
func run(t *testing.T, cfg config.NotifySink, d notify.Deliverer, w *world) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	s := notify.NewSender(cfg, d, w, w, notify.Hooks{}, 5*time.Millisecond, testutil.Logger(t, cfg.Name))
	go func() { defer close(done); s.Run(ctx) }()
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(stop)
	return stop
}

func wantSeqs(from, to uint64) string {
	var out []uint64
	for s := from; s <= to; s++ {
		out = append(out, s)
	}
	return fmt.Sprint(out)
}

func TestSender_NewSinkStartsAfterTheNewestEventAndResumesAfterItsCursor(t *testing.T) {
	t.Parallel()
	w := newWorld()
	w.events(t, "admin/info", "admin/info") // before the sink existed: never sent
	rec := &recorder{}
	stop := run(t, sink("ops"), rec, w)
	poll.True(t, "the new sink's cursor committed at the newest event", func() bool { seq, ok := w.NotifyCursor("ops"); return ok && seq == 2 })
	w.events(t, "admin/info", "decision/warn")
	poll.True(t, "events 3 and 4 delivered and committed", func() bool { return w.cursor(t, "ops") == 4 })
	stop()

	// The next leadership (another Sender, as on a new leader) resumes after the cursor.
	w.events(t, "operation/info")
	stop = run(t, sink("ops"), rec, w)
	poll.True(t, "event 5 delivered and committed", func() bool { return w.cursor(t, "ops") == 5 })
	stop()
	if got := fmt.Sprint(rec.seqs()); got != wantSeqs(3, 5) {
		t.Errorf("delivered %s, want %s once each", got, wantSeqs(3, 5))
	}
	n := rec.got[0]
	if n.ID != "prod:3" || n.Set != "prod" || n.Kind != "admin" || n.Severity != "info" || n.Actor != "test" || n.Message != "event admin/info" ||
		!n.Time.Equal(time.Unix(0, 1_700_000_000_123_456_789)) {
		t.Errorf("notification %+v", n)
	}
}

func TestSender_RetriesInOrderAndReportsAFailingSink(t *testing.T) {
	t.Parallel()
	w := newWorld()
	rec := &recorder{failN: 4}
	run(t, sink("ops"), rec, w)
	poll.True(t, "cursor committed", func() bool { _, ok := w.NotifyCursor("ops"); return ok })
	w.events(t, "admin/info", "admin/warn")
	// After 3 failed attempts the sender writes an event (3) that it then delivers too, and one
	// when the sink delivers again (4).
	poll.True(t, "events 1..4 delivered", func() bool { return w.cursor(t, "ops") == 4 })
	if got := fmt.Sprint(rec.seqs()); got != wantSeqs(1, 4) {
		t.Errorf("delivered %s, want %s in order", got, wantSeqs(1, 4))
	}
	evs := w.Events(2, 0, "", "")
	if len(evs) != 2 || evs[0].GetKind() != notify.KindNotify || evs[0].GetSeverity() != "error" || !strings.Contains(evs[0].GetMessage(), "notify sink ops fails: event 1 not delivered after 3 attempts") ||
		!strings.Contains(evs[1].GetMessage(), "notify sink ops delivers again") {
		t.Errorf("events about the sink: %v", evs)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if rec.tries != 4+4 {
		t.Errorf("%d attempts, want 8 (4 failures, 4 deliveries)", rec.tries)
	}
}

func TestSender_Filters(t *testing.T) {
	t.Parallel()
	w := newWorld()
	cfg := sink("ops")
	cfg.Kinds, cfg.MinSeverity, cfg.Workloads = []string{"operation", "detection"}, "warn", []string{"web", "db"}
	rec := &recorder{}
	run(t, cfg, rec, w)
	poll.True(t, "cursor committed", func() bool { _, ok := w.NotifyCursor("ops"); return ok })
	w.events(t,
		"operation/warn/web",   // 1: sent
		"operation/info/web",   // 2: not severe enough
		"admin/error/web",      // 3: another kind
		"operation/error/mail", // 4: another workload
		"detection/error/",     // 5: no workload
		"detection/error/db",   // 6: sent
		"operation/info/db")    // 7: not sent, but the cursor passes it
	poll.True(t, "cursor at 7", func() bool { return w.cursor(t, "ops") == 7 })
	if got := fmt.Sprint(rec.seqs()); got != "[1 6]" {
		t.Errorf("delivered %s, want [1 6]", got)
	}
}

func TestSender_ReportsEventsThatLeftTheRing(t *testing.T) {
	t.Parallel()
	w := newWorld()
	w.events(t, "admin/info")
	if err := w.CommitCursor(context.Background(), "ops", 1); err != nil {
		t.Fatal(err)
	}
	// 5 more than the ring holds after the cursor: events 2..6 are gone before the sender runs.
	specs := make([]string, fsm.MaxEvents+5)
	for i := range specs {
		specs[i] = "decision/info"
	}
	w.events(t, specs...)
	rec := &recorder{}
	var missed uint64
	var mu sync.Mutex
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s := notify.NewSender(sink("ops"), rec, w, w, notify.Hooks{OnMissed: func(_ string, n uint64) { mu.Lock(); missed += n; mu.Unlock() }},
		time.Millisecond, testutil.Logger(t, "ops"))
	last := w.LastEventSeq() + 1 // the missed-events event comes after them
	go s.Run(ctx)
	testutil.Poll{Timeout: time.Minute}.True(t, "everything after the gap delivered", func() bool { return w.cursor(t, "ops") >= last })
	mu.Lock()
	defer mu.Unlock()
	if missed != 5 {
		t.Errorf("missed %d events, want 5", missed)
	}
	if got := rec.seqs(); got[0] != 7 || uint64(len(got)) != last-6 {
		t.Errorf("delivered %d events from %d, want %d from 7", len(got), got[0], last-6)
	}
	gap := w.Events(last-1, 1, "", "")
	if len(gap) != 1 || !strings.Contains(gap[0].GetMessage(), "missed events 2 to 6 (5)") {
		t.Errorf("no event about the gap: %v", gap)
	}
}

func TestSender_DeposedLeaderLeavesTheCursorForTheNextOne(t *testing.T) {
	t.Parallel()
	w := newWorld()
	rec := &recorder{}
	stop := run(t, sink("ops"), rec, w)
	poll.True(t, "cursor committed", func() bool { _, ok := w.NotifyCursor("ops"); return ok })
	w.mu.Lock()
	w.failCommits = true // this sender's leadership is gone: its commits fail
	w.mu.Unlock()
	w.events(t, "admin/info", "admin/info")
	poll.True(t, "both delivered", func() bool { return len(rec.seqs()) == 2 })
	stop()
	w.mu.Lock()
	w.failCommits = false
	w.mu.Unlock()
	// The next leader sends again what was delivered without a committed cursor (at least once),
	// with the same ids.
	run(t, sink("ops"), rec, w)
	poll.True(t, "cursor at 2", func() bool { return w.cursor(t, "ops") == 2 })
	if got := fmt.Sprint(rec.seqs()); got != "[1 2 1 2]" {
		t.Errorf("delivered %s, want [1 2 1 2]", got)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if rec.got[0].ID != rec.got[2].ID {
		t.Errorf("ids %s and %s differ for one event", rec.got[0].ID, rec.got[2].ID)
	}
}

func TestWebhook_SignsAndRetriesUntilTheReceiverIsHealthy(t *testing.T) {
	t.Parallel()
	secret := "s3cret-key"
	var mu sync.Mutex
	var bodies []notify.Notification
	calls := 0
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		calls++
		body, _ := io.ReadAll(r.Body)
		if calls <= 2 {
			http.Error(rw, "maintenance", http.StatusServiceUnavailable)
			return
		}
		if calls == 3 {
			http.Error(rw, "bad token", http.StatusUnauthorized) // a 4xx is retried too
			return
		}
		if got, want := r.Header.Get(notify.HeaderSignature), notify.Sign([]byte(secret), body); got != want {
			t.Errorf("signature %q, want %q", got, want)
		}
		var n notify.Notification
		if err := json.Unmarshal(body, &n); err != nil {
			t.Errorf("body %s: %v", body, err)
		}
		if r.Header.Get(notify.HeaderEventID) != n.ID || r.Header.Get("Content-Type") != "application/json" {
			t.Errorf("headers %v for %s", r.Header, n.ID)
		}
		bodies = append(bodies, n)
	}))
	defer srv.Close()
	secretFile := filepath.Join(t.TempDir(), "hmac")
	if err := os.WriteFile(secretFile, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := sink("ops")
	cfg.URL, cfg.SecretFile = srv.URL, secretFile
	wh, err := notify.NewWebhook(cfg)
	if err != nil {
		t.Fatal(err)
	}
	w := newWorld()
	run(t, cfg, wh, w)
	poll.True(t, "cursor committed", func() bool { _, ok := w.NotifyCursor("ops"); return ok })
	w.events(t, "operation/warn/web", "dns/info/web")
	poll.True(t, "both delivered", func() bool { return w.cursor(t, "ops") >= 2 })
	mu.Lock()
	defer mu.Unlock()
	if len(bodies) < 2 || bodies[0].Seq != 1 || bodies[1].Seq != 2 || bodies[0].Workload != "web" || bodies[0].Severity != "warn" || bodies[0].ID != "prod:1" {
		t.Errorf("received %+v", bodies)
	}
}

func TestWebhook_Errors(t *testing.T) {
	t.Parallel()
	cfg := sink("ops")
	cfg.SecretFile = filepath.Join(t.TempDir(), "missing")
	if _, err := notify.NewWebhook(cfg); err == nil || !strings.Contains(err.Error(), "notify sink ops: secret_file") {
		t.Errorf("missing secret file: %v", err)
	}
	if err := os.WriteFile(cfg.SecretFile, []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := notify.NewWebhook(cfg); err == nil || !strings.Contains(err.Error(), "is empty") {
		t.Errorf("empty secret file: %v", err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, _ *http.Request) { http.Error(rw, "no such hook", http.StatusNotFound) }))
	defer srv.Close()
	cfg.SecretFile, cfg.URL = "", srv.URL
	wh, err := notify.NewWebhook(cfg)
	if err != nil {
		t.Fatal(err)
	}
	err = wh.Deliver(context.Background(), &notify.Notification{ID: "prod:1", Seq: 1})
	if err == nil || !strings.Contains(err.Error(), "webhook answered 404 Not Found: no such hook") {
		t.Errorf("404: %v", err)
	}
}

func TestSender_WaitsForTheSetSoEveryIDNamesIt(t *testing.T) {
	t.Parallel()
	w := newWorld()
	w.set = ""
	rec := &recorder{}
	run(t, sink("ops"), rec, w)
	w.events(t, "admin/info", "admin/info") // before set init: the sender waits
	w.mu.Lock()
	w.set = "prod"
	w.mu.Unlock()
	w.events(t, "admin/info") // wakes it: a new sink starts after the newest event (2 or 3)
	poll.True(t, "cursor committed", func() bool { _, ok := w.NotifyCursor("ops"); return ok })
	w.events(t, "operation/warn")
	poll.True(t, "event 4 delivered", func() bool { return w.cursor(t, "ops") == 4 })
	rec.mu.Lock()
	defer rec.mu.Unlock()
	for _, n := range rec.got {
		if n.Seq < 3 || n.ID != fmt.Sprintf("prod:%d", n.Seq) {
			t.Errorf("delivered %s (seq %d): want only events after the set's init, each id naming the set", n.ID, n.Seq)
		}
	}
}
