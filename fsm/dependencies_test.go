package fsm_test

import (
	"strings"
	"testing"

	"github.com/cset-project/cset/fsm"
	"github.com/cset-project/cset/fsm/fsmtest"
	fsmv1 "github.com/cset-project/cset/proto/cset/fsm/v1"
	"google.golang.org/protobuf/proto"
)

func dependsOn(w *fsmv1.Workload, deps ...string) *fsmv1.Workload {
	w.DependsOn = deps
	return w
}

// Dependencies must be registered, must not form a cycle (spelled out in the refusal), and a
// workload others depend on cannot be unregistered; a refused entry changes nothing.
func TestFSM_DependsOn(t *testing.T) {
	t.Parallel()
	upsert := func(w *fsmv1.Workload) *fsmv1.UpsertWorkloadCommand { return &fsmv1.UpsertWorkloadCommand{Workload: w} }
	app := func(deps ...string) *fsmv1.Workload {
		return dependsOn(fsmtest.Workload("app", "east", "west"), deps...)
	}
	runApplyCases(t, []applyCase{
		{
			name: "a registered dependency", seed: true,
			cmd: upsert(app("db")), dns: true,
			want:   func(d *fsm.Data, _ int64) { d.Workloads["app"] = registeredAt(app("db"), seedLen+1) },
			events: []ev{{Kind: "admin", Severity: "info", Workload: "app", Msg: "workload app registered (group g-app, candidates [east west])"}},
		},
		{name: "an unknown dependency", seed: true, cmd: upsert(app("cache")), wantErr: fsm.ErrNotFound, errHas: `workload "app" depends on "cache", which is not registered: register cache first`},
		{
			name: "a cycle of three is spelled out", seed: true,
			setup:   []proto.Message{upsert(app("db")), upsert(dependsOn(fsmtest.Workload("db", "west", "east"), "web1"))},
			cmd:     upsert(editWorkload(seedWeb1(), func(w *fsmv1.Workload) { w.DependsOn = []string{"app"} })),
			wantErr: fsm.ErrInvalidArgument, errHas: "depends_on forms a cycle: app -> db -> web1 -> app",
		},
		{name: "itself", seed: true, cmd: upsert(app("app")), wantErr: fsm.ErrInvalidArgument, errHas: `workload "app" depends on itself`},
		{name: "twice", seed: true, cmd: upsert(app("db", "db")), wantErr: fsm.ErrInvalidArgument, errHas: `lists dependency "db" twice`},
		{name: "not a name", seed: true, cmd: upsert(app("DB")), wantErr: fsm.ErrInvalidArgument, errHas: `depends_on "DB"`},
		{
			name: "a dependency cannot be unregistered", seed: true, setup: []proto.Message{upsert(app("db"))},
			cmd: &fsmv1.RemoveWorkloadCommand{Name: "db"}, wantErr: fsm.ErrFailedPrecondition, errHas: `workload "app" depends on "db": take db out of its depends_on first`,
		},
		{
			name: "once nothing depends on it, it can", seed: true, setup: []proto.Message{upsert(app("db")), upsert(app())},
			cmd: &fsmv1.RemoveWorkloadCommand{Name: "db"}, dns: true,
			want:   func(d *fsm.Data, _ int64) { delete(d.Workloads, "db") },
			events: []ev{{Kind: "admin", Severity: "info", Workload: "db", Msg: "workload db unregistered (its ECX group is left as it is)"}},
		},
	})
}

func TestData_Dependents(t *testing.T) {
	t.Parallel()
	f := fsm.New(nil)
	fsmtest.Apply(t, f, fsmtest.SeedCommands()...)
	fsmtest.Apply(t, f, &fsmv1.UpsertWorkloadCommand{Workload: dependsOn(fsmtest.Workload("app", "east"), "db")},
		&fsmv1.UpsertWorkloadCommand{Workload: dependsOn(fsmtest.Workload("api", "east"), "db", "web1")})
	d := f.Data()
	if got := d.Dependents("db"); len(got) != 2 || got[0] != "api" || got[1] != "app" {
		t.Errorf("Dependents(db) = %v, want [api app]", got)
	}
	if got := d.Dependents("api"); len(got) != 0 {
		t.Errorf("Dependents(api) = %v, want none", got)
	}
}

// A declaration may name a workload before the workloads it depends on.
func TestFSM_DeclareOrdersByDependencies(t *testing.T) {
	t.Parallel()
	f := fsm.New(nil)
	fsmtest.Apply(t, f, fsmtest.SeedCommands()...)
	decl := &fsmv1.ApplyDeclarationCommand{Workloads: []*fsmv1.Workload{
		dependsOn(fsmtest.Workload("app", "east"), "api"),
		dependsOn(fsmtest.Workload("api", "east"), "cache"),
		fsmtest.Workload("cache", "east"),
	}}
	fsmtest.Apply(t, f, &fsmv1.DeclareCommand{Declaration: decl})
	d := f.Data()
	for _, n := range []string{"app", "api", "cache"} {
		if d.Workloads[n] == nil {
			t.Errorf("%s was not registered", n)
		}
	}
	// A cycle inside one declaration is still refused, and spelled out.
	decl = &fsmv1.ApplyDeclarationCommand{Workloads: []*fsmv1.Workload{
		dependsOn(fsmtest.Workload("x", "east"), "y"), dependsOn(fsmtest.Workload("y", "east"), "x"),
	}}
	e := fsmtest.Entry(t, &fsmv1.DeclareCommand{Declaration: decl})
	if r := f.ApplyEntry(f.AppliedIndex()+1, e); r.Err == nil || !strings.Contains(r.Err.Error(), "cycle") {
		t.Errorf("a cycle in one declaration: %v, want refused", r.Err)
	}
}
