package main

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	apiv1 "github.com/cset-project/cset/proto/cset/api/v1"
)

// testApp is an app aimed at addr with the globals checkGlobals would set, for calling the
// helpers directly.
func testApp(t *testing.T, addr string) (*app, *bytes.Buffer) {
	t.Helper()
	var out bytes.Buffer
	a := newApp(strings.NewReader(""), &out, &out, func(string) string { return "" })
	a.addr, a.output, a.timeout = addr, "table", defaultTimeout
	a.requestID, a.actor = "req-1", "csetctl:test"
	a.retryBackoff = time.Millisecond
	t.Cleanup(a.close)
	return a, &out
}

func TestCall_AnswersOnOneConnection(t *testing.T) {
	t.Parallel()
	f, addr := newSeeded(t)
	a, _ := testApp(t, addr)
	r, err := call(t.Context(), a, service.ListMembers, &apiv1.ListRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range r.GetMembers() {
		got = append(got, m.GetName())
	}
	if want := []string{"east", "west"}; !cmp.Equal(got, want) {
		t.Errorf("members %q, want %q", got, want)
	}
	conn := a.conn
	if _, err := call(t.Context(), a, service.SetMemberAdmin, &apiv1.SetMemberAdminRequest{Name: "east", Admin: "draining"}); err != nil {
		t.Fatal(err)
	}
	if a.conn != conn {
		t.Error("the second call dialled again")
	}
	calls := f.getCalls()
	if len(calls) != 2 || calls[0].requestID != "" || calls[1].requestID != "req-1" || calls[1].actor != "csetctl:test" {
		t.Errorf("calls %+v, want the request id and actor on the write only", calls)
	}
	if !a.lastWrite {
		t.Error("lastWrite is not set after a write, so report would not offer the retry hint")
	}
}

func TestCall_Deadline(t *testing.T) {
	t.Parallel()
	f, addr := newSeeded(t)
	f.mu.Lock()
	f.hang["GetMember"] = true
	f.mu.Unlock()
	a, _ := testApp(t, addr)

	a.timeout = 50 * time.Millisecond
	start := time.Now()
	_, err := call(t.Context(), a, service.GetMember, &apiv1.GetRequest{Name: "east"})
	if status.Code(err) != codes.DeadlineExceeded || time.Since(start) > 5*time.Second {
		t.Errorf("--timeout 50ms: %v after %s, want DeadlineExceeded soon", err, time.Since(start))
	}

	// --timeout 0 sets no deadline: the call lasts until its context ends.
	a.timeout = 0
	ctx, cancel := context.WithCancel(t.Context())
	time.AfterFunc(100*time.Millisecond, cancel)
	_, err = call(ctx, a, service.GetMember, &apiv1.GetRequest{Name: "east"})
	if status.Code(err) != codes.Canceled {
		t.Errorf("--timeout 0: %v, want Canceled by the caller", err)
	}

	// A stream through do gets one deadline for the whole transfer.
	a.timeout = time.Minute
	err = a.do(t.Context(), func(ctx context.Context, _ service) error {
		if dl, ok := ctx.Deadline(); !ok || time.Until(dl) > time.Minute {
			t.Errorf("do: deadline %v %v, want one within --timeout", dl, ok)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestCall_ErrorsAsReportMapsThem: call leaves a server's status and a local failure as they are,
// so report gives them the message, hint and exit code it gives them everywhere.
func TestCall_ErrorsAsReportMapsThem(t *testing.T) {
	t.Parallel()
	f, addr := newSeeded(t)
	a, out := testApp(t, addr)
	_, err := call(t.Context(), a, service.GetWorkload, &apiv1.GetRequest{Name: "nope"})
	if st, ok := status.FromError(err); !ok || st.Code() != codes.NotFound {
		t.Fatalf("err %v, want the server's NotFound", err)
	}
	if code := a.report(nil, err); code != exitError || out.String() != "error: workload \"nope\" not found (NotFound)\n" {
		t.Errorf("report: exit %d, %q", code, out.String())
	}

	b, _ := testApp(t, addr)
	b.tlsCA = filepath.Join(t.TempDir(), "missing.pem")
	before := len(f.getCalls())
	_, err = call(t.Context(), b, service.ListMembers, &apiv1.ListRequest{})
	if err == nil || !strings.Contains(err.Error(), "reading --tls-ca") {
		t.Errorf("err %v, want the --tls-ca failure", err)
	}
	if _, isStatus := status.FromError(err); isStatus {
		t.Errorf("a local failure came back as a gRPC status: %v", err)
	}
	if len(f.getCalls()) != before {
		t.Error("a call that could not dial reached the server")
	}
	ran := false
	if err := b.do(t.Context(), func(context.Context, service) error { ran = true; return nil }); err == nil || ran {
		t.Errorf("do ran its function (%v) without a connection: %v", ran, err)
	}
}

func TestEmit_OneOutputPath(t *testing.T) {
	t.Parallel()
	type item struct{ Name, Note string }
	items := []item{{"a", ""}, {"b\tc", "x"}}
	toJSON := func(i item) map[string]string { return map[string]string{"name": i.Name} }
	row := func(i item) []string { return []string{i.Name, i.Note} }
	for _, tt := range []struct {
		output string
		run    func(a *app) error
		want   string
	}{
		{"table", func(a *app) error { return emitList(a, items, toJSON, []string{"NAME", "NOTE"}, row) },
			"NAME  NOTE\na     -\nb\\tc  x\n"},
		{"json", func(a *app) error { return emitList(a, items, toJSON, []string{"NAME", "NOTE"}, row) },
			"[\n  {\n    \"name\": \"a\"\n  },\n  {\n    \"name\": \"b\\tc\"\n  }\n]\n"},
		{"json", func(a *app) error { return emitList(a, []item(nil), toJSON, nil, row) }, "[]\n"},
		{"table", func(a *app) error { return a.emitf(deletedJSON{Kind: "token"}, "token %s revoked\n", "ci") }, "token ci revoked\n"},
		{"json", func(a *app) error {
			return a.emitf(deletedJSON{Kind: "token", Name: "ci", Deleted: true}, "token %s revoked\n", "ci")
		},
			"{\n  \"kind\": \"token\",\n  \"name\": \"ci\",\n  \"deleted\": true\n}\n"},
		{"table", func(a *app) error { return a.emit(1, func() error { return errors.New("text failed") }) }, ""},
	} {
		a, out := testApp(t, "127.0.0.1:1")
		a.output = tt.output
		err := tt.run(a)
		if tt.want == "" {
			if err == nil || err.Error() != "text failed" {
				t.Errorf("emit: %v, want the error of text", err)
			}
			continue
		}
		if err != nil || out.String() != tt.want {
			t.Errorf("-o %s: %v\n%q\nwant\n%q", tt.output, err, out.String(), tt.want)
		}
	}
}
