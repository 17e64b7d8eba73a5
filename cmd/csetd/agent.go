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

// parseAgentConfig applies defaults (with -dev, the dev world's: config.ApplyDev), then the
// -config file, then the flags given explicitly, and validates the result once.
func parseAgentConfig(args []string, stderr io.Writer) (config.Config, error) {
	cfg, err := parseAgentLayers(config.Default(), args, stderr)
	if err != nil || !cfg.Dev {
		return cfg, validateAgentConfig(cfg, err)
	}
	// -dev (a flag or in the file) changes the defaults under what was given explicitly: read
	// the file and the flags again over the dev defaults.
	dev := config.Default()
	dev.ApplyDev()
	cfg, err = parseAgentLayers(dev, args, io.Discard)
	return cfg, validateAgentConfig(cfg, err)
}

// parseAgentLayers reads the -config file and the flags over base.
func parseAgentLayers(base config.Config, args []string, stderr io.Writer) (config.Config, error) {
	cfg := base
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
	return cfg, nil
}

func validateAgentConfig(cfg config.Config, err error) error {
	if err != nil {
		return err
	}
	if err := cfg.Validate(); err != nil {
		what := "configuration"
		if cfg.Dev {
			what = "-dev configuration"
		}
		return usageError{fmt.Errorf("invalid %s:\n  %s", what, strings.ReplaceAll(err.Error(), "\n", "\n  "))}
	}
	return nil
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
			// The embedded witness's address is known only now: validate with it.
			cfg.Witness = dev.witnessURL
			if err := validateAgentConfig(cfg, nil); err != nil {
				return err
			}
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
