package server

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/cset-project/cset/fsm"
	fsmv1 "github.com/cset-project/cset/proto/cset/fsm/v1"
)

// BootstrapTokenFile is the name, in the data directory, of the file the first leader with
// -auth writes the bootstrap admin token to.
const BootstrapTokenFile = "bootstrap-token"

// setupSecurity reads this master's own token and prepares its TLS configurations.
func (s *Server) setupSecurity() error {
	if s.cfg.TokenFile != "" {
		b, err := os.ReadFile(s.cfg.TokenFile)
		if err != nil {
			return fmt.Errorf("-token-file: %w", err)
		}
		s.masterToken = strings.TrimSpace(string(b))
		if _, ok := hashTokenSecret(s.masterToken); !ok {
			return fmt.Errorf("-token-file %s does not hold a cset token (cset_...)", s.cfg.TokenFile)
		}
	}
	return s.setupTLS()
}

// bootstrapToken runs on every new leader with -auth: while the state holds no token at all,
// it creates the admin token "bootstrap" once. The secret goes to DATA-DIR/bootstrap-token
// (0600) before the hash is committed, so a crash in between never leaves a token nobody knows.
func (s *Server) bootstrapToken(ctx context.Context) {
	backoff := 100 * time.Millisecond
	for {
		// After a restart the FSM replays the log while this master already leads: only after a
		// barrier does "no token" mean that the state holds none, so that the file, which still
		// holds the valid secret, is not overwritten.
		err := s.raft.Barrier(10 * time.Second).Error()
		if err == nil && s.fsm.HasTokens() {
			return
		}
		if err == nil {
			err = s.createBootstrapToken(ctx)
		}
		if err == nil || errors.Is(err, fsm.ErrFailedPrecondition) {
			return
		}
		s.logger.Warn("bootstrap token not created yet; retrying", "error", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

func (s *Server) createBootstrapToken(ctx context.Context) error {
	secret, hash, err := newTokenSecret()
	if err != nil {
		return err
	}
	path := filepath.Join(s.cfg.DataDir, BootstrapTokenFile)
	if err := writeSecretFile(path, secret+"\n"); err != nil {
		return err
	}
	cmd := &fsmv1.CreateTokenCommand{OnlyIfNone: true, Token: &fsmv1.Token{Name: "bootstrap", Role: fsm.RoleAdmin, Hash: hash, CreatedBy: "master:" + s.cfg.NodeID}}
	_, err = s.raftApply(ctx, &fsmv1.LogEntry{Actor: "master:" + s.cfg.NodeID, Command: &fsmv1.LogEntry_CreateToken{CreateToken: cmd}})
	if errors.Is(err, fsm.ErrFailedPrecondition) {
		// Another leader bootstrapped first: this secret was never valid.
		_ = os.Remove(path)
		return err
	}
	if err != nil {
		return err
	}
	s.logger.Info("created the bootstrap admin token: read it from the file, create personal tokens with 'csetctl token create', then delete the file", "path", path)
	return nil
}

// writeSecretFile writes a secret atomically with mode 0600.
func writeSecretFile(path, content string) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := tmp.WriteString(content); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
