package main

import (
	"strings"
	"testing"
)

// TestCLI_MemberRemoveInProgress: a member that runs workloads is removed after they are moved
// off it: remove says so and returns; show and list tell the removal; --force travels.
func TestCLI_MemberRemoveInProgress(t *testing.T) {
	t.Parallel()
	f, addr := newSeeded(t)
	r := cli(t, addr, exitOK, "member", "remove", "east")
	if want := "member east is being removed (move): workloads web are moved off it first under the fence; it is deleted when no cset group runs there\n" +
		"follow it with: csetctl member show east (or remove with --wait)\n"; r.stdout != want {
		t.Errorf("stdout %q, want %q", r.stdout, want)
	}
	r = cli(t, addr, exitOK, "member", "show", "east")
	if !strings.Contains(r.stdout, "removal:       in progress (its workloads are moved off it first)") {
		t.Errorf("member show:\n%s", r.stdout)
	}
	r = cli(t, addr, exitOK, "member", "list")
	if !strings.Contains(r.stdout, "east  draining (removing)  up") {
		t.Errorf("member list:\n%s", r.stdout)
	}
	r = cli(t, addr, exitOK, "-o", "json", "member", "remove", "east", "--force")
	if got := f.lastRm; got == nil || !got.GetForce() {
		t.Errorf("RemoveMember request %v, want force", got)
	}
	if r.stdout != "{\n  \"kind\": \"member\",\n  \"name\": \"east\",\n  \"deleted\": false\n}\n" {
		t.Errorf("json %q", r.stdout)
	}
}

// TestCLI_MemberRemoveWait polls until the member is gone.
func TestCLI_MemberRemoveWait(t *testing.T) {
	t.Parallel()
	_, addr := newSeeded(t)
	r := cli(t, addr, exitOK, "member", "remove", "east", "--force", "--wait")
	if r.stdout != "member east removed\n" || r.stderr != "member east is being removed (force); waiting until no cset group runs there\n" {
		t.Errorf("stdout %q stderr %q", r.stdout, r.stderr)
	}
	cli(t, addr, exitError, "member", "show", "east")
	r = cli(t, addr, exitOK, "member", "remove", "west")
	if r.stdout != "member west removed\n" {
		t.Errorf("removal of an unused member: %q", r.stdout)
	}
	cli(t, addr, exitUsage, "member", "remove", "west", "--wait", "--wait-timeout", "0s")
}

// TestCLI_MoveForce: --force travels in the request and shows in the answer; a refusal exits
// non-zero with the scheduler's reason.
func TestCLI_MoveForce(t *testing.T) {
	t.Parallel()
	f, addr := newSeeded(t)
	r := cli(t, addr, exitOK, "workload", "move", "web", "--to", "west", "--force")
	if got := f.lastMove; got == nil || !got.GetForce() {
		t.Errorf("MoveWorkload request %v, want force", got)
	}
	if !strings.Contains(r.stdout, "operation op-web started: planned (forced) web from east/east-1 to west, phase fencing") {
		t.Errorf("stdout %q", r.stdout)
	}
	r = cli(t, addr, exitOK, "operation", "show", "op-web")
	if !strings.Contains(r.stdout, "reason:   planned (forced)\n") {
		t.Errorf("operation show:\n%s", r.stdout)
	}
	cli(t, addr, exitOK, "member", "drain", "west")
	r = cli(t, addr, exitError, "workload", "move", "web", "--to", "west", "--force")
	if !strings.Contains(r.stderr, "workload web cannot move to west: member west is draining (FailedPrecondition)") {
		t.Errorf("stderr %q", r.stderr)
	}
}
