package main

import (
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/cset-project/cset/config"
)

// TestParseAgentConfig_DevUnderExplicitValues: -dev changes the defaults, never a value given
// explicitly, even one equal to the production default (fence_after 15s used to become 6s).
func TestParseAgentConfig_DevUnderExplicitValues(t *testing.T) {
	file := filepath.Join(t.TempDir(), "csetd.yaml")
	def := config.Default().Controller
	yaml := "controller:\n  fence_after: " + def.FenceAfter.String() + "\n  lease_ttl: " + def.LeaseTTL.String() + "\n"
	if err := os.WriteFile(file, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := parseAgentConfig([]string{"-dev", "-config", file, "-grpc-addr", "127.0.0.1:7200"}, io.Discard)
	if err != nil {
		t.Fatalf("parseAgentConfig: %v", err)
	}
	if cfg.Controller.FenceAfter != def.FenceAfter || cfg.Controller.LeaseTTL != def.LeaseTTL {
		t.Errorf("explicit fence_after %s, lease_ttl %s became %s, %s", def.FenceAfter, def.LeaseTTL, cfg.Controller.FenceAfter, cfg.Controller.LeaseTTL)
	}
	if cfg.GRPCAddr != "127.0.0.1:7200" {
		t.Errorf("explicit -grpc-addr became %s", cfg.GRPCAddr)
	}
	// What was not given explicitly takes the dev world's values.
	if cfg.Controller.UnreachableAfter != 2*time.Second || cfg.RaftAddr != "127.0.0.1:7101" || !cfg.Bootstrap {
		t.Errorf("dev defaults not applied: unreachable_after %s, raft %s, bootstrap %v", cfg.Controller.UnreachableAfter, cfg.RaftAddr, cfg.Bootstrap)
	}

	cfg, err = parseAgentConfig([]string{"-dev"}, io.Discard)
	if err != nil {
		t.Fatalf("parseAgentConfig(-dev): %v", err)
	}
	if cfg.Controller.FenceAfter != 6*time.Second {
		t.Errorf("-dev fence_after = %s, want 6s", cfg.Controller.FenceAfter)
	}

	// -dev given in the file rather than as a flag works the same.
	if err := os.WriteFile(file, []byte("dev: true\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if cfg, err = parseAgentConfig([]string{"-config", file}, io.Discard); err != nil || cfg.Controller.FenceAfter != 6*time.Second || cfg.GRPCAddr != "127.0.0.1:7100" {
		t.Errorf("dev in the file: fence_after %s, grpc %s, err %v", cfg.Controller.FenceAfter, cfg.GRPCAddr, err)
	}
}
