package server

import (
	"context"
	"time"

	"github.com/cset-project/cset/fsm"
	"github.com/cset-project/cset/notify"
	fsmv1 "github.com/cset-project/cset/proto/cset/fsm/v1"
	"github.com/prometheus/client_golang/prometheus"
)

// notifyMinBackoff is the first pause after a failed notification; it doubles up to the sink's
// max_backoff.
const notifyMinBackoff = time.Second

// notifySource adapts the FSM to notify.Source.
type notifySource struct{ *fsm.FSM }

func (s notifySource) ClusterSetName() string { return s.ClusterSet().GetName() }

// notifyCommitter adapts raftApply to notify.Committer.
type notifyCommitter struct{ s *Server }

func (c notifyCommitter) CommitCursor(ctx context.Context, sink string, seq uint64) error {
	// ignore_if_unknown: a master of an older version skips the entry and loses nothing but the
	// cursor (docs/notifications.md).
	_, err := c.s.raftApply(ctx, &fsmv1.LogEntry{Actor: "notify", IgnoreIfUnknown: true,
		Command: &fsmv1.LogEntry_SetNotifyCursor{SetNotifyCursor: &fsmv1.SetNotifyCursorCommand{Sink: sink, Seq: seq}}})
	return err
}

func (c notifyCommitter) Event(ctx context.Context, e *fsmv1.Event) error {
	_, err := c.s.raftApply(ctx, &fsmv1.LogEntry{Actor: "notify", Command: &fsmv1.LogEntry_AppendEvents{AppendEvents: &fsmv1.AppendEventsCommand{Events: []*fsmv1.Event{e}}}})
	return err
}

// setupNotify registers one leader task per configured notification sink and their metrics
// (docs/notifications.md). A tie-breaker sends nothing: it leads only until a full master takes
// over.
func (s *Server) setupNotify() error {
	sinks := s.cfg.Notify.Sinks
	if len(sinks) == 0 || s.cfg.Tiebreaker() {
		return nil
	}
	sent := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "cset_notify_sent_total",
		Help: "Notifications this master delivered while leader, by sink."}, []string{"sink"})
	failures := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "cset_notify_failures_total",
		Help: "Failed notification attempts (each is retried) of this master while leader, by sink."}, []string{"sink"})
	missed := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "cset_notify_missed_events_total",
		Help: "Events that left the event ring before they were delivered to the sink, by sink."}, []string{"sink"})
	s.registry.MustRegister(sent, failures, missed)
	hooks := notify.Hooks{
		OnSent:    func(sink string) { sent.WithLabelValues(sink).Inc() },
		OnFailure: func(sink string) { failures.WithLabelValues(sink).Inc() },
		OnMissed:  func(sink string, n uint64) { missed.WithLabelValues(sink).Add(float64(n)) },
	}
	src := notifySource{s.fsm}
	for _, sc := range sinks {
		d, err := notify.NewDeliverer(sc, "")
		if err != nil {
			return err
		}
		sent.WithLabelValues(sc.Name)
		failures.WithLabelValues(sc.Name)
		missed.WithLabelValues(sc.Name)
		name := sc.Name
		s.registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "cset_notify_lag_events",
			Help:        "Events after the sink's committed cursor (not yet delivered, or delivered but not yet committed); the same on every master.",
			ConstLabels: prometheus.Labels{"sink": name}}, func() float64 {
			cur, ok := s.fsm.NotifyCursor(name)
			if !ok {
				return 0 // the sink starts after the newest event
			}
			return float64(s.fsm.LastEventSeq() - min(cur, s.fsm.LastEventSeq()))
		}))
		sender := notify.NewSender(sc, d, src, notifyCommitter{s}, hooks, notifyMinBackoff, s.logger.Named("notify"))
		s.AddLeaderTask("notify-"+name, sender.Run)
	}
	return nil
}
