package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/cset-project/cset/config"
	"github.com/cset-project/cset/server"
	"github.com/hashicorp/go-hclog"
)

// parseAgentConfig applies defaults, then the -config file, then the flags given explicitly.
func parseAgentConfig(args []string, stderr io.Writer) (config.Config, error) {
	cfg := config.Default()
	fs := flag.NewFlagSet("csetd agent", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configFile := fs.String("config", "", "YAML or JSON configuration file (flags override it)")
	cfg.RegisterFlags(fs)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: csetd agent [flags]\n\nRuns one cset master. The first master starts with -bootstrap, the others with -join ADDR.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return cfg, err
		}
		return cfg, usageError{err}
	}
	if fs.NArg() > 0 {
		return cfg, usageError{fmt.Errorf("unexpected arguments %q: csetd agent takes flags only", fs.Args())}
	}
	if *configFile != "" {
		if err := cfg.LoadFile(*configFile); err != nil {
			return cfg, usageError{err}
		}
		_ = fs.Parse(args) // explicit flags win over the file
	}
	if cfg.Dev {
		cfg.ApplyDev()
	}
	if err := cfg.Validate(); err != nil {
		return cfg, usageError{fmt.Errorf("invalid configuration:\n  %s", strings.ReplaceAll(err.Error(), "\n", "\n  "))}
	}
	return cfg, nil
}

func newLogger(cfg config.Config, w io.Writer, name string) hclog.Logger {
	return hclog.New(&hclog.LoggerOptions{
		Name: name, Level: hclog.LevelFromString(cfg.LogLevel), Output: w, JSONFormat: cfg.LogJSON,
	})
}

func runAgent(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, err := parseAgentConfig(args, stderr)
	if err != nil {
		return err
	}
	logger := newLogger(cfg, stderr, "csetd")
	var dev *devEnv
	if cfg.Dev {
		logger.Warn("dev mode: one master with an embedded witness and ECX simulator, temporary data, no TLS and no authentication, on loopback only")
		if dev, err = startDevEnv(logger); err != nil {
			return err
		}
		defer dev.close()
		if cfg.Witness == "" {
			cfg.Witness = dev.witnessURL
		}
		applyDevDefaults(&cfg)
		if err := cfg.Validate(); err != nil {
			return usageError{fmt.Errorf("invalid -dev configuration:\n  %s", strings.ReplaceAll(err.Error(), "\n", "\n  "))}
		}
	}
	srv, err := server.New(cfg, logger, server.Deps{})
	if err != nil {
		return err
	}
	if err := srv.Start(); err != nil {
		srv.Close()
		return err
	}
	if dev != nil {
		if err := dev.startSim(logger, srv.Addrs().GRPC, cfg.Controller); err != nil {
			srv.Close()
			return err
		}
		if err := seedDev(ctx, srv, dev); err != nil {
			srv.Close()
			return fmt.Errorf("declaring the dev cluster set: %w", err)
		}
		printDevBanner(stdout, srv, dev)
	}
	<-ctx.Done()
	logger.Info("shutting down")
	return srv.Close()
}
