package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/cset-project/cset/witness"
	"github.com/hashicorp/go-hclog"
)

type witnessFlags struct {
	listen, dataDir, tokenFile, tlsCert, tlsKey, readyFile, logLevel string
	restartHold                                                      time.Duration
}

func runWitness(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var f witnessFlags
	fs := flag.NewFlagSet("csetd witness", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&f.listen, "listen", "0.0.0.0:7190", "HTTP(S) listen address")
	fs.StringVar(&f.dataDir, "data-dir", "", "directory for the persisted lease and last-seen state (required)")
	fs.StringVar(&f.tokenFile, "token-file", "", "file holding the bearer token required on every /v1/ call")
	fs.StringVar(&f.tlsCert, "tls-cert", "", "TLS certificate file (serve HTTPS)")
	fs.StringVar(&f.tlsKey, "tls-key", "", "TLS key file")
	fs.StringVar(&f.readyFile, "ready-file", "", "write {\"addr\": ...} to this file once serving")
	fs.StringVar(&f.logLevel, "log-level", "info", "trace, debug, info, warn or error")
	fs.DurationVar(&f.restartHold, "restart-hold", 0, "after a start grant no new lease for at least this long (default 0: the longest lease TTL this witness ever granted, so a fresh witness holds nothing)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: csetd witness -data-dir DIR [flags]\n\nRuns the witness: the arbiter of master leases and member liveness (docs/witness.md).\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return err
		}
		return usageError{err}
	}
	if f.dataDir == "" {
		return usageError{errors.New("-data-dir is required: the witness persists its lease state there")}
	}
	if (f.tlsCert == "") != (f.tlsKey == "") {
		return usageError{errors.New("-tls-cert and -tls-key go together")}
	}
	token, err := readTokenFile(f.tokenFile)
	if err != nil {
		return usageError{err}
	}
	logger := hclog.New(&hclog.LoggerOptions{Name: "witness", Level: hclog.LevelFromString(f.logLevel), Output: stderr})
	srv, err := witness.NewServer(witness.ServerConfig{DataDir: f.dataDir, Token: token, RestartHold: f.restartHold, Logger: logger})
	if err != nil {
		return err
	}
	defer srv.Close()
	lis, err := net.Listen("tcp", f.listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", f.listen, err)
	}
	hs := &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 10 * time.Second}
	errCh := make(chan error, 1)
	go func() {
		if f.tlsCert != "" {
			errCh <- hs.ServeTLS(lis, f.tlsCert, f.tlsKey)
		} else {
			errCh <- hs.Serve(lis)
		}
	}()
	if token == "" {
		logger.Warn("no -token-file: the witness accepts unauthenticated calls")
	}
	logger.Info("witness serving", "addr", lis.Addr().String(), "data_dir", f.dataDir, "tls", f.tlsCert != "")
	if f.readyFile != "" {
		if err := os.WriteFile(f.readyFile, []byte(fmt.Sprintf("{\"addr\": %q}\n", lis.Addr().String())), 0o644); err != nil {
			return err
		}
	}
	select {
	case <-ctx.Done():
	case err := <-errCh:
		if !errors.Is(err, http.ErrServerClosed) {
			return err
		}
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = hs.Shutdown(sctx)
	return nil
}

// readTokenFile reads a bearer token; an empty path means no token.
func readTokenFile(path string) (string, error) {
	if path == "" {
		return "", nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("token file: %w", err)
	}
	t := strings.TrimSpace(string(b))
	if t == "" {
		return "", fmt.Errorf("token file %s is empty", path)
	}
	return t, nil
}
