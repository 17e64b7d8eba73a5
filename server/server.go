package server

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cset-project/cset/config"
	"github.com/cset-project/cset/dnsserver"
	"github.com/cset-project/cset/fsm"
	apiv1 "github.com/cset-project/cset/proto/cset/api/v1"
	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"
)

// Deps lets tests replace the Raft transport, stores and the gRPC listener (the in-memory
// harness). Zero fields are built from the configuration.
type Deps struct {
	Transport    raft.Transport
	LogStore     raft.LogStore
	StableStore  raft.StableStore
	Snapshots    raft.SnapshotStore
	GRPCListener net.Listener
}

// Addrs are the addresses a running master listens on and advertises.
type Addrs struct {
	NodeID string `json:"node_id"`
	GRPC   string `json:"grpc_addr"`
	Raft   string `json:"raft_addr"`
	HTTP   string `json:"http_addr"`
	DNS    string `json:"dns_addr"`
}

// Server is one master. Create it with New, then Start; Close stops it.
type Server struct {
	cfg    config.Config
	logger hclog.Logger
	fsm    *fsm.FSM

	raft      *raft.Raft
	transport raft.Transport
	logs      raft.LogStore
	stable    raft.StableStore
	snaps     raft.SnapshotStore
	stores    []interface{ Close() error }
	notifyCh  chan bool

	grpcServer *grpc.Server
	grpcLis    net.Listener
	health     *health.Server
	httpSrv    *http.Server
	httpLis    net.Listener

	registry *prometheus.Registry
	metrics  *metrics
	fwd      *forwarder
	batch    *batcher
	// leaderTasks run while this master leads (the controller with its witness lease).
	leaderTasks *leaderTasks
	closers     []func() error // closers of optional subsystems (DNS, witness, sim)

	addrs   Addrs
	tempDir string
	dns     *dnsserver.Server
	// fencing is the split-brain machinery the controller task shares with Status and the
	// guard heartbeats: the witness client, the lease, the fence and the guard tracker.
	fencing *fencing
	// readyTerm is the term in which this leader's barrier committed (0 when not leading).
	readyTerm atomic.Uint64

	audit       *auditor
	masterToken string      // from -token-file: what this master presents to the others
	peerTLS     *tls.Config // client side of master-to-master TLS; nil without TLS
	apiTLS      *tls.Config // the gRPC API's server side
	raftTLS     *tls.Config // the Raft listener's server side (mutual TLS)

	// witnessStatus reports the witness lease for Status; nil without a witness.
	witnessStatus func() *apiv1.WitnessInfo

	joinMu sync.Mutex // serialises the membership changes of RaftJoin (join.go)

	ctx       context.Context
	cancel    context.CancelFunc
	wg        sync.WaitGroup
	closeOnce sync.Once
	closeErr  error
}

// New builds a master from a validated configuration. It opens the stores and listeners but
// does not start Raft or serve; call Start.
func New(cfg config.Config, logger hclog.Logger, deps Deps) (*Server, error) {
	if logger == nil {
		logger = hclog.NewNullLogger()
	}
	s := &Server{cfg: cfg, logger: logger, fsm: fsm.New(logger.Named("fsm")), registry: prometheus.NewRegistry()}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.metrics = newMetrics(s.registry)
	s.audit = newAuditor(s)
	if err := s.setupSecurity(); err != nil {
		return nil, err
	}
	if err := s.setupRaft(deps); err != nil {
		s.closeStores()
		return nil, err
	}
	if err := s.setupGRPC(deps.GRPCListener); err != nil {
		s.Close()
		return nil, err
	}
	if err := s.setupHTTP(); err != nil {
		s.Close()
		return nil, err
	}
	s.addrs = Addrs{NodeID: cfg.NodeID, GRPC: s.grpcAdvertise(), Raft: string(s.transport.LocalAddr())}
	if s.httpLis != nil {
		s.addrs.HTTP = s.httpLis.Addr().String()
	}
	s.fwd = newForwarder(s)
	s.batch = newBatcher(s)
	s.leaderTasks = newLeaderTasks(s)
	if err := s.setupDNS(); err != nil {
		s.Close()
		return nil, err
	}
	if err := s.setupFencing(); err != nil {
		s.Close()
		return nil, err
	}
	if err := s.setupNotify(); err != nil { // notify.go
		s.Close()
		return nil, err
	}
	if cfg.Auth {
		s.AddLeaderTask("bootstrap-token", s.bootstrapToken)
	}
	return s, nil
}

func (s *Server) grpcAdvertise() string {
	return config.Advertised(s.cfg.AdvertiseGRPC, s.grpcLis.Addr().String())
}

// raftConfig is the one place the master's settings become hashicorp/raft's: the raft section
// of the configuration (defaults and validation in package config), the node id, the logger
// and the leadership channel the leader loop reads.
func (s *Server) raftConfig() *raft.Config {
	r := s.cfg.Raft
	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(s.cfg.NodeID)
	rc.HeartbeatTimeout, rc.ElectionTimeout, rc.LeaderLeaseTimeout = r.HeartbeatTimeout, r.ElectionTimeout, r.LeaderLeaseTimeout
	rc.CommitTimeout, rc.TrailingLogs = r.CommitTimeout, r.TrailingLogs
	rc.SnapshotInterval, rc.SnapshotThreshold = r.SnapshotInterval, r.SnapshotThreshold
	rc.Logger = s.logger.Named("raft")
	rc.NotifyCh = s.notifyCh
	return rc
}

func (s *Server) setupRaft(deps Deps) error {
	cfg := s.cfg
	if cfg.DataDir == "" {
		dir, err := os.MkdirTemp("", "csetd-dev-")
		if err != nil {
			return fmt.Errorf("make a temporary data dir: %w", err)
		}
		s.tempDir, s.cfg.DataDir = dir, dir
		cfg.DataDir = dir
	}
	if err := s.prepareDataDir(cfg.DataDir); err != nil { // 0700, files 0600 (datadir.go)
		return err
	}
	s.notifyCh = make(chan bool, 16)
	rc := s.raftConfig()
	if err := raft.ValidateConfig(rc); err != nil {
		return fmt.Errorf("raft config: %w", err)
	}

	logs, stable, snaps := deps.LogStore, deps.StableStore, deps.Snapshots
	if logs == nil || stable == nil {
		bolt, err := raftboltdb.New(raftboltdb.Options{Path: filepath.Join(cfg.DataDir, "raft.db")})
		if err != nil {
			return fmt.Errorf("open raft store %s: %w (is another csetd using this -data-dir?)", filepath.Join(cfg.DataDir, "raft.db"), err)
		}
		s.stores = append(s.stores, bolt)
		cached, err := raft.NewLogCache(512, bolt)
		if err != nil {
			return fmt.Errorf("raft log cache: %w", err)
		}
		logs, stable = cached, bolt
	}
	if snaps == nil {
		fss, err := raft.NewFileSnapshotStoreWithLogger(cfg.DataDir, cfg.Raft.SnapshotRetain, s.logger.Named("snapshot"))
		if err != nil {
			return fmt.Errorf("snapshot store: %w", err)
		}
		dir := filepath.Join(cfg.DataDir, "snapshots")
		if err := makePrivate(dir); err != nil { // raft creates it 0755
			return err
		}
		snaps = &privateSnapshots{FileSnapshotStore: fss, dir: dir}
	}
	trans := deps.Transport
	if trans == nil {
		adv := cfg.AdvertiseRaft
		var advAddr net.Addr
		if adv != "" {
			a, err := net.ResolveTCPAddr("tcp", adv)
			if err != nil {
				return fmt.Errorf("-advertise-raft %q: %w", adv, err)
			}
			advAddr = a
		}
		var nt *raft.NetworkTransport
		var err error
		if s.raftTLS != nil {
			nt, err = newTLSTransport(cfg.RaftAddr, advAddr, s.raftTLS, s.peerTLS, s.logger.Named("raft-net"))
		} else {
			nt, err = raft.NewTCPTransportWithLogger(cfg.RaftAddr, advAddr, 3, 10*time.Second, s.logger.Named("raft-net"))
		}
		if err != nil {
			return fmt.Errorf("raft transport on %s: %w (with a 0.0.0.0 listen address give -advertise-raft)", cfg.RaftAddr, err)
		}
		s.stores = append(s.stores, nt)
		trans = nt
	}
	s.transport, s.logs, s.stable, s.snaps = trans, logs, stable, snaps
	if err := s.recoverPeers(rc, logs, stable, snaps, trans); err != nil { // <data-dir>/peers.json (recover.go)
		return err
	}
	r, err := raft.NewRaft(rc, s.fsm, logs, stable, snaps, trans)
	if err != nil {
		return fmt.Errorf("start raft: %w", err)
	}
	s.raft = r
	return nil
}

func (s *Server) setupGRPC(lis net.Listener) error {
	if lis == nil {
		l, err := net.Listen("tcp", s.cfg.GRPCAddr)
		if err != nil {
			return fmt.Errorf("gRPC listen on %s: %w", s.cfg.GRPCAddr, err)
		}
		lis = l
	}
	s.grpcLis = lis
	opts := []grpc.ServerOption{
		grpc.ChainUnaryInterceptor(s.recoverUnary, s.metricsUnary, s.authUnary, s.limitsUnary, s.forwardUnary),
		grpc.ChainStreamInterceptor(s.recoverStream, s.metricsStream, s.authStream),
		grpc.MaxRecvMsgSize(maxRecvBytes),
	}
	if s.apiTLS != nil {
		opts = append(opts, grpc.Creds(credentials.NewTLS(s.apiTLS)))
	}
	s.grpcServer = grpc.NewServer(opts...)
	apiv1.RegisterClusterSetServiceServer(s.grpcServer, &api{s: s})
	s.health = health.NewServer()
	healthpb.RegisterHealthServer(s.grpcServer, s.health)
	reflection.Register(s.grpcServer)
	return nil
}

// Start bootstraps or joins the Raft ring and starts serving. It returns once serving.
func (s *Server) Start() error {
	if s.cfg.Bootstrap {
		if err := s.bootstrap(); err != nil {
			return err
		}
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := s.grpcServer.Serve(s.grpcLis); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
			s.logger.Error("gRPC server stopped", "error", err)
		}
	}()
	if s.httpSrv != nil {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			if err := s.httpSrv.Serve(s.httpLis); err != nil && !errors.Is(err, http.ErrServerClosed) {
				s.logger.Error("HTTP server stopped", "error", err)
			}
		}()
	}
	s.wg.Add(4)
	go func() { defer s.wg.Done(); s.batch.run(s.ctx) }()
	go func() { defer s.wg.Done(); s.leaderTasks.run(s.ctx) }()
	go func() { defer s.wg.Done(); s.audit.run(s.ctx) }()
	go func() { defer s.wg.Done(); s.registerSelf(s.ctx) }()
	if s.cfg.Join != "" {
		s.wg.Add(1)
		go func() { defer s.wg.Done(); s.joinLoop(s.ctx, s.cfg.Join) }()
	}
	s.health.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	// Probes that name the API's service (grpc_health_probe -service, Kubernetes' grpc.service)
	// get the same answer instead of NOT_FOUND.
	s.health.SetServingStatus(apiv1.ClusterSetService_ServiceDesc.ServiceName, healthpb.HealthCheckResponse_SERVING)
	if s.cfg.ReadyFile != "" {
		if err := s.writeReadyFile(); err != nil {
			return err
		}
	}
	s.logger.Info("master started", "node_id", s.cfg.NodeID, "grpc", s.addrs.GRPC, "raft", s.addrs.Raft, "http", s.addrs.HTTP, "data_dir", s.cfg.DataDir,
		"auth", s.cfg.Auth, "tls", s.cfg.TLS.Enabled(), "tls_verify_clients", s.cfg.TLS.VerifyClients)
	if !s.cfg.Dev && (!s.cfg.Auth || !s.cfg.TLS.Enabled()) {
		s.logger.Warn("this master is not fully secured: without -auth anyone who reaches the gRPC API can stop every workload, without -tls-* traffic and Raft are in clear text (see docs/security.md)")
	}
	return nil
}

func (s *Server) bootstrap() error {
	has, err := raft.HasExistingState(s.logs, s.stable, s.snaps)
	if err != nil {
		return fmt.Errorf("check raft state: %w", err)
	}
	if has {
		s.logger.Info("raft state exists; -bootstrap ignored", "data_dir", s.cfg.DataDir)
		return nil
	}
	f := s.raft.BootstrapCluster(raft.Configuration{Servers: []raft.Server{{
		ID: raft.ServerID(s.cfg.NodeID), Address: s.transport.LocalAddr(), Suffrage: raft.Voter,
	}}})
	if err := f.Error(); err != nil && !errors.Is(err, raft.ErrCantBootstrap) {
		return fmt.Errorf("bootstrap raft: %w", err)
	}
	return nil
}

// writeReadyFile writes the bound addresses atomically so tests and scripts can find ports.
func (s *Server) writeReadyFile() error {
	b, _ := json.MarshalIndent(s.Addrs(), "", "  ")
	tmp := s.cfg.ReadyFile + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return fmt.Errorf("ready file: %w", err)
	}
	return os.Rename(tmp, s.cfg.ReadyFile)
}

// Addrs returns the bound and advertised addresses.
func (s *Server) Addrs() Addrs { return s.addrs }

// FSM returns the state machine (read-only use).
func (s *Server) FSM() *fsm.FSM { return s.fsm }

// Raft returns the Raft instance (tests and the leader loop).
func (s *Server) Raft() *raft.Raft { return s.raft }

// Registry returns the Prometheus registry of this master.
func (s *Server) Registry() *prometheus.Registry { return s.registry }

// IsLeader reports whether this master is the Raft leader now.
func (s *Server) IsLeader() bool { return s.raft.State() == raft.Leader }

// Close stops serving, leaves Raft running state on disk and closes the stores. Idempotent.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		s.cancel()
		if s.health != nil {
			s.health.Shutdown()
		}
		if s.grpcServer != nil {
			stopped := make(chan struct{})
			go func() { s.grpcServer.GracefulStop(); close(stopped) }()
			select {
			case <-stopped:
			case <-time.After(5 * time.Second):
				s.grpcServer.Stop()
			}
		}
		if s.httpSrv != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_ = s.httpSrv.Shutdown(ctx)
			cancel()
		}
		for i := len(s.closers) - 1; i >= 0; i-- {
			if err := s.closers[i](); err != nil {
				s.logger.Warn("closing subsystem", "error", err)
			}
		}
		s.wg.Wait()
		if s.fwd != nil {
			s.fwd.close()
		}
		if s.raft != nil {
			if err := s.raft.Shutdown().Error(); err != nil {
				s.closeErr = fmt.Errorf("raft shutdown: %w", err)
			}
		}
		s.closeStores()
		if s.tempDir != "" {
			os.RemoveAll(s.tempDir)
		}
	})
	return s.closeErr
}

func (s *Server) closeStores() {
	for _, c := range s.stores {
		if err := c.Close(); err != nil {
			s.logger.Warn("closing store", "error", err)
		}
	}
	s.stores = nil
}
