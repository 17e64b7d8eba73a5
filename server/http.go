package server

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

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

func (s *Server) httpHandler() http.Handler {
	s.registerRaftGauges()
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.registry, promhttp.HandlerOpts{}))
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
