package ecxsim

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
)

// Heartbeat sender sizing: a few workers drain one bounded queue, so 1,000 clusters heartbeating
// every second cost a handful of goroutines. A heartbeat that finds the queue full is dropped, which
// is what a congested network does; the server's view of the witness then ages as it would.
const (
	hbWorkers   = 16
	hbQueueSize = 8192
	hbTimeout   = 2 * time.Second
)

// hbJob is one guard round of one server: its heartbeats to the witness and the masters. seq is
// the server's power/service generation when the job was queued: a job for an older generation is
// dropped.
type hbJob struct {
	c   *simCluster
	s   *simServer
	seq uint64
}

// current reports whether the job's server is still the one that queued it and powered.
func (j hbJob) current() bool {
	j.c.mu.Lock()
	defer j.c.mu.Unlock()
	return j.s.seq == j.seq && j.s.power
}

// heartbeatBody is the JSON body of POST /v1/heartbeat (docs/witness.md, "Protocol").
type heartbeatBody struct {
	Cluster string `json:"cluster"`
	Server  string `json:"server"`
}

type heartbeater struct {
	log    hclog.Logger
	jobs   chan hbJob
	client *http.Client
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	warned sync.Map // cluster name -> struct{}: log the first failure per cluster only
}

func newHeartbeater(log hclog.Logger) *heartbeater {
	ctx, cancel := context.WithCancel(context.Background())
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = hbWorkers
	h := &heartbeater{
		log:    log,
		jobs:   make(chan hbJob, hbQueueSize),
		client: &http.Client{Transport: tr, Timeout: hbTimeout},
		ctx:    ctx,
		cancel: cancel,
	}
	for range hbWorkers {
		h.wg.Add(1)
		go h.work()
	}
	return h
}

// send queues a heartbeat without blocking; it is called under the cluster lock.
func (h *heartbeater) send(j hbJob) {
	select {
	case h.jobs <- j:
	default:
	}
}

func (h *heartbeater) stop() {
	h.cancel()
	h.wg.Wait()
	h.client.CloseIdleConnections()
}

func (h *heartbeater) work() {
	defer h.wg.Done()
	for {
		select {
		case <-h.ctx.Done():
			return
		case j := <-h.jobs:
			if !j.current() {
				continue // powered off or restarted since queued
			}
			sg := j.c.sim.guards[j.s]
			if sg == nil {
				continue
			}
			if err := sg.g.Beat(h.ctx); err != nil && h.ctx.Err() == nil {
				if _, seen := h.warned.LoadOrStore(j.c.cfg.Name, struct{}{}); !seen {
					h.log.Warn("guard heartbeat failed", "cluster", j.c.cfg.Name, "server", j.s.name, "error", err)
				}
			}
		}
	}
}

// post sends one heartbeat of server of cluster c to every witness of c, in parallel, and
// returns nil as soon as a majority of them acknowledged it (docs/witness.md, "Several
// witnesses"), or an error once a majority no longer can. Heartbeats still in flight go on in
// the background until ctx's deadline, so a slow or cut-off witness neither holds a sender
// worker nor misses a heartbeat it would still receive.
func (h *heartbeater) post(ctx context.Context, c *simCluster, cluster, server string) error {
	urls := c.cfg.witnessURLs()
	if len(urls) == 1 {
		return h.postOne(ctx, c, urls[0], cluster, server)
	}
	bg, cancel := context.WithCancel(context.WithoutCancel(ctx))
	if d, ok := ctx.Deadline(); ok {
		cancel()
		bg, cancel = context.WithDeadline(context.WithoutCancel(ctx), d)
	}
	answers := make(chan error, len(urls))
	var wg sync.WaitGroup
	for _, u := range urls {
		wg.Go(func() { answers <- h.postOne(bg, c, u, cluster, server) })
	}
	go func() { wg.Wait(); cancel() }()
	need, acked := len(urls)/2+1, 0
	var errs []error
	for range urls {
		var err error
		select {
		case err = <-answers:
		case <-ctx.Done():
			err = ctx.Err()
		}
		if err == nil {
			if acked++; acked >= need {
				return nil
			}
			continue
		}
		errs = append(errs, err)
		if len(errs) > len(urls)-need || ctx.Err() != nil {
			break
		}
	}
	return fmt.Errorf("heartbeat acknowledged by %d of %d witnesses, %d needed: %w", acked, len(urls), need, errors.Join(errs...))
}

// postOne sends one witness heartbeat of server of cluster c to the witness at base.
func (h *heartbeater) postOne(ctx context.Context, c *simCluster, base, cluster, server string) error {
	body, err := json.Marshal(heartbeatBody{Cluster: cluster, Server: server})
	if err != nil {
		return fmt.Errorf("encode heartbeat: %w", err)
	}
	url := strings.TrimSuffix(base, "/") + "/v1/heartbeat"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("build heartbeat request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	if c.cfg.WitnessToken != "" {
		req.Header.Set("Authorization", "Bearer "+c.cfg.WitnessToken)
	}
	resp, err := h.client.Do(req)
	if err != nil {
		return fmt.Errorf("post heartbeat: %w", err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("post heartbeat: witness answered %s", resp.Status)
	}
	return nil
}
