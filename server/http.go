package server

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"strings"
	"time"

	"github.com/cset-project/cset/config"
	"github.com/cset-project/cset/fsm"
	"github.com/cset-project/cset/pki"
	"github.com/cset-project/cset/witness"
	"github.com/hashicorp/raft"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/status"
)

type metrics struct {
	applyDuration prometheus.Histogram
	batchSize     prometheus.Histogram
	isLeader      prometheus.Gauge
	rpcs          *prometheus.CounterVec
	// controller holds the series of the leader's controller (controllerMetrics).
	controller *controllerMetrics
}

func newMetrics(reg *prometheus.Registry) *metrics {
	m := &metrics{
		applyDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "cset_raft_apply_seconds", Help: "Time from raft.Apply to the FSM's response on the leader.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}),
		batchSize: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "cset_raft_batch_entries", Help: "API writes carried by one Raft entry (group commit).",
			Buckets: prometheus.ExponentialBuckets(2, 2, 8),
		}),
		isLeader: prometheus.NewGauge(prometheus.GaugeOpts{Name: "cset_is_leader", Help: "1 while this master is the Raft leader."}),
		rpcs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cset_grpc_requests_total", Help: "gRPC API calls by method and status code.",
		}, []string{"method", "code"}),
	}
	m.controller = newControllerMetrics(reg)
	reg.MustRegister(m.applyDuration, m.batchSize, m.isLeader, m.rpcs,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

func (s *Server) registerRaftGauges() {
	gauge := func(name, help string, f func() float64) {
		s.registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, f))
	}
	gauge("cset_raft_commit_index", "Raft commit index known to this master.", func() float64 { return float64(s.raft.CommitIndex()) })
	gauge("cset_raft_applied_index", "Index of the last entry applied to the FSM.", func() float64 { return float64(s.fsm.AppliedIndex()) })
	gauge("cset_raft_term", "Current Raft term.", func() float64 { return float64(s.raft.CurrentTerm()) })
	s.registry.MustRegister(newStateCollector(s))
	gauge("cset_workloads_unreachable", "Workloads Online where they are placed whose probe finds them unreachable (committed state).", func() float64 {
		return float64(s.fsm.CountUnreachable())
	})
}

func (s *Server) metricsUnary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	resp, err := handler(ctx, req)
	_, method, _ := splitMethod(info.FullMethod)
	s.metrics.rpcs.WithLabelValues(method, status.Code(err).String()).Inc()
	return resp, err
}

func (s *Server) metricsStream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	err := handler(srv, ss)
	_, method, _ := splitMethod(info.FullMethod)
	s.metrics.rpcs.WithLabelValues(method, status.Code(err).String()).Inc()
	return err
}

// healthReport is the JSON body of GET /v1/health.
type healthReport struct {
	Status       string `json:"status"` // ok | no_leader
	NodeID       string `json:"node_id"`
	RaftState    string `json:"raft_state"`
	Leader       string `json:"leader"`
	CommitIndex  uint64 `json:"commit_index"`
	AppliedIndex uint64 `json:"applied_index"`
	LastContact  string `json:"last_contact,omitempty"`
}

// setupHTTP opens the listener of /metrics and /v1/health: HTTPS with this master's certificate
// when TLS is configured (a client certificate of the CA is verified when one is presented,
// never required), with the timeouts and connection limit of cfg.HTTP (issue 13: before, only the
// header timeout was set, and idle connections were held for good).
func (s *Server) setupHTTP() error {
	if s.cfg.HTTPAddr == "" {
		return nil
	}
	var tlsCfg *tls.Config
	if t := s.cfg.TLS; t.Enabled() {
		c, err := pki.APIServerConfig(t.Cert, t.Key, t.CA, false)
		if err != nil {
			return fmt.Errorf("TLS of the HTTP listener: %w", err)
		}
		tlsCfg = c
	}
	l, err := net.Listen("tcp", s.cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("HTTP listen on %s: %w", s.cfg.HTTPAddr, err)
	}
	h := s.cfg.HTTP
	srv, served, limiter, err := witness.NewLimitedHTTPServer(s.httpHandler(), l, witness.HTTPLimits{
		ReadTimeout: h.ReadTimeout, WriteTimeout: h.WriteTimeout, IdleTimeout: h.IdleTimeout, MaxConns: h.MaxConns,
	}, tlsCfg, s.logger.Named("http"))
	if err != nil {
		l.Close()
		return err
	}
	s.registry.MustRegister(limiter.Collector("cset"))
	s.httpLis, s.httpSrv = served, srv
	return nil
}

func (s *Server) httpHandler() http.Handler {
	s.registerRaftGauges()
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", s.metricsGate(promhttp.HandlerFor(s.registry, promhttp.HandlerOpts{})))
	mux.Handle("/ui/", s.consoleHandler()) // the web console (package ui, docs/console.md)
	if s.cfg.HTTP.Pprof {
		mux.Handle("GET /debug/pprof/", s.metricsGate(http.HandlerFunc(pprof.Index)))
		mux.Handle("GET /debug/pprof/cmdline", s.metricsGate(http.HandlerFunc(pprof.Cmdline)))
		mux.Handle("GET /debug/pprof/profile", s.metricsGate(http.HandlerFunc(pprof.Profile)))
		mux.Handle("GET /debug/pprof/symbol", s.metricsGate(http.HandlerFunc(pprof.Symbol)))
		mux.Handle("GET /debug/pprof/trace", s.metricsGate(http.HandlerFunc(pprof.Trace)))
	}
	mux.HandleFunc("GET /v1/health", func(w http.ResponseWriter, r *http.Request) {
		id, _ := s.leaderInfo()
		rep := healthReport{Status: "ok", NodeID: s.cfg.NodeID, RaftState: s.raft.State().String(), Leader: id,
			CommitIndex: s.raft.CommitIndex(), AppliedIndex: s.fsm.AppliedIndex()}
		if s.raft.State() != raft.Leader {
			if lc := s.raft.LastContact(); !lc.IsZero() {
				rep.LastContact = time.Since(lc).Round(time.Millisecond).String()
			}
		}
		code := http.StatusOK
		if id == "" {
			rep.Status, code = "no_leader", http.StatusServiceUnavailable
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_ = json.NewEncoder(w).Encode(rep)
	})
	return mux
}

// metricsGate enforces -metrics-auth on /metrics: a cset API token of role read or above, a
// client certificate verified against -tls-ca, or either (config.HTTPConfig.MetricsAuth).
func (s *Server) metricsGate(next http.Handler) http.Handler {
	mode := s.cfg.HTTP.MetricsAuth
	if mode == "" || mode == config.MetricsAuthNone {
		return next
	}
	certOK := mode == config.MetricsAuthCert || mode == config.MetricsAuthTokenOrCert
	tokenOK := mode == config.MetricsAuthToken || mode == config.MetricsAuthTokenOrCert
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if certOK && r.TLS != nil && len(r.TLS.VerifiedChains) > 0 {
			next.ServeHTTP(w, r)
			return
		}
		code, msg := http.StatusUnauthorized, "/metrics needs a client certificate signed by the deployment's CA (-metrics-auth cert)"
		if tokenOK {
			if code, msg = s.metricsToken(r); code == 0 {
				next.ServeHTTP(w, r)
				return
			}
			if certOK {
				msg += ", or a client certificate signed by the deployment's CA"
			}
			w.Header().Set("WWW-Authenticate", `Bearer realm="cset-metrics"`)
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(code)
		fmt.Fprintln(w, msg)
	})
}

// metricsToken checks the bearer token of a /metrics request: 0 when it is a cset API token of
// role read, operate or admin, else the status and message to answer.
func (s *Server) metricsToken(r *http.Request) (int, string) {
	const need = "/metrics needs a cset API token of role read or above (Authorization: Bearer cset_...; Prometheus: authorization.credentials_file; create one with 'csetctl token create prometheus --role read')"
	scheme, secret, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return http.StatusUnauthorized, need
	}
	hash, ok := hashTokenSecret(strings.TrimSpace(secret))
	if !ok {
		return http.StatusUnauthorized, "malformed token: a cset token starts with cset_; " + need
	}
	name, role, ok := s.fsm.TokenByHash(hash)
	if !ok && !s.IsLeader() {
		s.catchUp(r.Context(), time.Second) // a token created a moment ago may not be applied here yet
		name, role, ok = s.fsm.TokenByHash(hash)
	}
	switch {
	case !ok:
		return http.StatusUnauthorized, "token not recognised: it was revoked or never created; " + need
	case role == fsm.RoleGuard:
		return http.StatusForbidden, "token " + name + " has role guard, which may call only GuardHeartbeat; " + need
	}
	return 0, ""
}
