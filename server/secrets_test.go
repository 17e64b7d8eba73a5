package server_test

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cset-project/cset/config"
	"github.com/cset-project/cset/ecxsim"
	"github.com/cset-project/cset/internal/clustertest"
	"github.com/cset-project/cset/internal/testutil"
	apiv1 "github.com/cset-project/cset/proto/cset/api/v1"
	"github.com/hashicorp/go-hclog"
	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/proto"
)

// syncLog collects log lines from every master.
type syncLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *syncLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *syncLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// TestSecrets_NeverLeak runs a scenario on three masters with -auth and the controller talking
// to a simulated ECX (one member with the right password, one with a wrong one, one
// unreachable), creates tokens, lets a read token attempt a move and an operate token make one,
// saves a redacted snapshot, and then scans every log line of every master (trace level),
// every API answer received (as prototext) and every event: none may hold an ECX password, a
// token secret or a token hash. The only answers that carry a secret by design, CreateToken's,
// are left out of the scan.
func TestSecrets_NeverLeak(t *testing.T) {
	t.Parallel()
	const (
		pwEast  = "pw-EAST-7f3a9e"
		pwWest  = "pw-WEST-wrong-9c1d"
		pwNorth = "pw-NORTH-22aa51"
	)
	simCfg := ecxsim.Config{}
	for _, m := range []string{"east", "west"} {
		pw := pwEast
		if m == "west" {
			pw = "pw-WEST-right"
		}
		simCfg.Clusters = append(simCfg.Clusters, ecxsim.ClusterConfig{Name: m, User: "cset", Password: pw,
			Servers: []ecxsim.ServerConfig{{Name: m + "-1", Listen: "auto"}, {Name: m + "-2", Listen: "auto"}},
			Groups:  []ecxsim.GroupConfig{{Name: "web"}}})
	}
	sim, err := ecxsim.New(simCfg, hclog.NewNullLogger())
	if err != nil {
		t.Fatal(err)
	}
	if err := sim.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })

	logs := &syncLog{}
	c := clustertest.NewWithLog(t, 3, func(cfg *config.Config) {
		cfg.Auth = true
		cfg.Controller.PollInterval = 100 * time.Millisecond
	}, logs)
	admin := c.BootstrapToken()
	f := c.Followers()[0]
	var answers bytes.Buffer
	keep := func(m proto.Message, err error) {
		if err == nil {
			answers.WriteString(prototext.Format(m))
		} else {
			answers.WriteString(err.Error() + "\n")
		}
	}
	cl := tokenClient(t, f, admin)
	ctx := clustertest.Ctx(t)
	keep(cl.InitSet(ctx, &apiv1.InitSetRequest{Name: "prod", Zone: "cset.example.com"}))
	for name, pw := range map[string]string{"east": pwEast, "west": pwWest} {
		r := &apiv1.AddMemberRequest{Name: name, User: "cset", Password: pw}
		for _, s := range []string{name + "-1", name + "-2"} {
			r.Servers = append(r.Servers, &apiv1.ServerSpec{Name: s, Url: sim.ServerURL(name, s)})
		}
		keep(cl.AddMember(ctx, r))
	}
	keep(cl.Apply(ctx, &apiv1.ApplyRequest{Declaration: &apiv1.Declaration{
		Members: []*apiv1.AddMemberRequest{{Name: "north", User: "cset", Password: pwNorth, Servers: []*apiv1.ServerSpec{{Name: "north-1", Url: "http://127.0.0.1:1"}}}},
		Workloads: []*apiv1.RegisterWorkloadRequest{{Name: "web", Group: "web", Candidates: []string{"east", "west"},
			Addresses: map[string]*apiv1.AddressList{"east": {Addresses: []string{"10.0.1.10"}}, "west": {Addresses: []string{"10.0.2.10"}}}}},
	}}))

	var secrets []string
	for _, tok := range []struct{ name, role string }{{"reader", "read"}, {"ops", "operate"}} {
		r, err := cl.CreateToken(ctx, &apiv1.CreateTokenRequest{Name: tok.name, Role: tok.role})
		if err != nil {
			t.Fatal(err)
		}
		secrets = append(secrets, r.GetSecret())
	}
	reader, ops := tokenClient(t, f, secrets[0]), tokenClient(t, c.Leader(), secrets[1])

	// The controller has met every member: east up, west refusing the password, north unreachable.
	testutil.Eventually(t, 20*time.Second, func() error {
		r, err := reader.ListMembers(ctx, &apiv1.ListRequest{})
		keep(r, err)
		if err != nil {
			return err
		}
		health := map[string]string{}
		for _, m := range r.GetMembers() {
			health[m.GetName()] = m.GetHealth()
		}
		if health["east"] != "up" || health["west"] != "unreachable" || health["north"] != "unreachable" {
			return fmt.Errorf("member health %v", health)
		}
		return nil
	})
	keep(reader.MoveWorkload(ctx, &apiv1.MoveWorkloadRequest{Name: "web", ToMember: "west"}))
	keep(ops.MoveWorkload(ctx, &apiv1.MoveWorkloadRequest{Name: "web", ToMember: "east"}))
	keep(ops.SetMemberAdmin(ctx, &apiv1.SetMemberAdminRequest{Name: "west", Admin: "draining"}))
	keep(cl.ListTokens(ctx, &apiv1.ListRequest{}))
	for _, n := range c.Nodes {
		keep(tokenClient(t, n, admin).ListMembers(ctx, &apiv1.ListRequest{}))
		keep(tokenClient(t, n, admin).Status(ctx, &apiv1.StatusRequest{}))
	}
	keep(cl.GetWorkload(ctx, &apiv1.GetRequest{Name: "web"}))
	keep(cl.ListOperations(ctx, &apiv1.ListRequest{}))
	keep(cl.ListNodes(ctx, &apiv1.ListRequest{}))
	red, err := cl.SnapshotSave(ctx, &apiv1.SnapshotSaveRequest{Redact: true})
	if err != nil {
		t.Fatal(err)
	}
	for {
		chunk, err := red.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		answers.Write(chunk.GetData())
	}
	waitEvent(t, cl, admin, "the denied move", func(e *apiv1.Event) bool {
		return e.GetActor() == "reader" && strings.Contains(e.GetMessage(), "denied MoveWorkload")
	})
	evs, err := cl.ListEvents(ctx, &apiv1.ListEventsRequest{Limit: 10000})
	keep(evs, err)

	forbidden := map[string]string{"east password": pwEast, "west password": pwWest, "north password": pwNorth}
	for i, s := range secrets {
		forbidden[fmt.Sprintf("token secret %d", i)] = s
		forbidden[fmt.Sprintf("token secret %d body", i)] = strings.TrimPrefix(s, "cset_")
	}
	for _, tok := range c.Nodes[0].Server.FSM().Tokens() {
		forbidden["hash of "+tok.Name+" (hex)"] = hex.EncodeToString(tok.Hash)
		forbidden["hash of "+tok.Name+" (base64)"] = base64.StdEncoding.EncodeToString(tok.Hash)
	}
	forbidden["bootstrap secret"] = admin
	for where, text := range map[string]string{"master logs": logs.String(), "API answers": answers.String()} {
		if len(text) < 1000 {
			t.Errorf("%s hold only %d bytes: the scan would prove nothing", where, len(text))
		}
		for what, secret := range forbidden {
			if strings.Contains(text, secret) {
				i := strings.Index(text, secret)
				t.Errorf("the %s contain the %s: ...%s...", where, what, text[max(0, i-200):min(len(text), i+len(secret)+50)])
			}
		}
	}
	if t.Failed() {
		t.Log(logs.String())
	}
	t.Logf("scanned %d bytes of logs and %d bytes of answers for %d secrets", len(logs.String()), answers.Len(), len(forbidden))
}
