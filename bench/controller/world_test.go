package controllerbench

import (
	"context"
	"flag"
	"fmt"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"github.com/cset-project/cset/config"
	"github.com/cset-project/cset/internal/testutil"
	apiv1 "github.com/cset-project/cset/proto/cset/api/v1"
	"github.com/cset-project/cset/server"
	"github.com/cset-project/cset/witness"
	"github.com/hashicorp/go-hclog"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

var logLevel = flag.String("ctl.log-level", "warn", "log level of the benchmark's master, witness and simulator (written to stderr)")

// logger is the benchmarks' logger: stderr at -ctl.log-level. Not t.Log: a benchmark prints
// its whole log, and the scale benchmark would keep megabytes of it in the measured heap.
func logger(name string) hclog.Logger {
	return hclog.New(&hclog.LoggerOptions{Name: name, Level: hclog.LevelFromString(*logLevel), Output: os.Stderr})
}

// master is one csetd agent in this process, built as production builds it (BoltDB log and
// stable store, file snapshots, TCP Raft transport) on 127.0.0.1 ports chosen by the kernel.
type master struct {
	srv    *server.Server
	client apiv1.ClusterSetServiceClient
}

// startMaster bootstraps a one-master set with the witness at witnessURL ("" for none) and the
// controller settings that ctl sets, and waits until it leads.
func startMaster(tb testing.TB, witnessURL string, ctl func(*config.ControllerConfig)) *master {
	tb.Helper()
	return startMasterConfig(tb, witnessURL, func(cfg *config.Config) {
		if ctl != nil {
			ctl(&cfg.Controller)
		}
	})
}

// startMasterConfig is startMaster with the whole configuration open to set.
func startMasterConfig(tb testing.TB, witnessURL string, set func(*config.Config)) *master {
	tb.Helper()
	cfg := config.Default()
	cfg.NodeID, cfg.DataDir, cfg.Bootstrap = "m1", tb.TempDir(), true
	cfg.GRPCAddr, cfg.RaftAddr, cfg.HTTPAddr, cfg.DNSAddr = "127.0.0.1:0", "127.0.0.1:0", "", ""
	cfg.Witness = witnessURL
	cfg.LogLevel = *logLevel
	if set != nil {
		set(&cfg)
	}
	if err := cfg.Validate(); err != nil {
		tb.Fatal(err)
	}
	srv, err := server.New(cfg, logger("m1"), server.Deps{})
	if err != nil {
		tb.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		srv.Close()
		tb.Fatal(err)
	}
	tb.Cleanup(func() { srv.Close() })
	conn, err := grpc.NewClient(srv.Addrs().GRPC, grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithDefaultCallOptions(grpc.MaxCallSendMsgSize(64<<20)))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { conn.Close() })
	testutil.Eventually(tb, 20*time.Second, func() error {
		if !srv.IsLeader() {
			return fmt.Errorf("m1 is not leader yet")
		}
		return nil
	})
	return &master{srv: srv, client: apiv1.NewClusterSetServiceClient(conn)}
}

// startWitness serves a witness on 127.0.0.1 and returns its URL.
func startWitness(tb testing.TB) string {
	tb.Helper()
	ws, err := witness.NewServer(witness.ServerConfig{DataDir: tb.TempDir(), RestartHold: -1, Logger: logger("witness")})
	if err != nil {
		tb.Fatal(err)
	}
	hs := httptest.NewServer(ws.Handler())
	tb.Cleanup(func() { hs.Close(); ws.Close() })
	return hs.URL
}

// ctx returns a context for one API call.
func ctx(tb testing.TB, d time.Duration) context.Context {
	c, cancel := context.WithTimeout(context.Background(), d)
	tb.Cleanup(cancel)
	return c
}
