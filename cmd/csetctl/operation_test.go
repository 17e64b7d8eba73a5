package main

import (
	"strings"
	"testing"
)

func TestCLI_OperationRetryAndCancel(t *testing.T) {
	t.Parallel()
	f, addr := newSeeded(t)
	// op-1 is done: neither retried nor cancelled, and the error says why.
	r := cli(t, addr, exitError, "operation", "retry", "op-1")
	if !strings.Contains(r.stderr, "phase done") {
		t.Errorf("retry of a done operation: stderr %q", r.stderr)
	}
	cli(t, addr, exitError, "operation", "cancel", "op-1")
	cli(t, addr, exitError, "operation", "retry", "nope")

	f.mu.Lock()
	f.ops["op-1"].Phase = "blocked"
	f.mu.Unlock()
	r = cli(t, addr, exitOK, "operation", "retry", "op-1", "-o", "json")
	if !strings.Contains(r.stdout, `"phase": "handover"`) {
		t.Errorf("retry of a blocked operation printed %s", r.stdout)
	}
	f.mu.Lock()
	f.ops["op-1"].Phase = "blocked"
	f.mu.Unlock()
	r = cli(t, addr, exitOK, "operation", "cancel", "op-1")
	if !strings.Contains(r.stdout, "failed") || !strings.Contains(r.stdout, "cancelled by admin") {
		t.Errorf("cancel printed %s", r.stdout)
	}
}
