package ecxsim

import (
	"bytes"
	"context"
	"encoding/json"
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

// hbJob is one heartbeat of one server. seq is the server's power/service generation when the job
// was queued: a reply for an older generation is ignored.
type hbJob struct {
	c   *simCluster
	s   *simServer
	seq uint64
}

// current reports whether the job's server is still the one that queued it, powered and not cut
// off the witness.
func (j hbJob) current() bool {
	j.c.mu.Lock()
	defer j.c.mu.Unlock()
	return j.currentLocked()
}

func (j hbJob) currentLocked() bool {
	return j.s.seq == j.seq && j.s.power && !j.s.witnessCut
}

// heartbeatBody is the JSON body of POST /v1/heartbeat (DESIGN.md section 8).
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
				continue // cut or restarted since queued
			}
			err := h.post(j)
			if err != nil {
				if _, seen := h.warned.LoadOrStore(j.c.cfg.Name, struct{}{}); !seen {
					h.log.Warn("witness heartbeat failed", "cluster", j.c.cfg.Name, "server", j.s.name, "error", err)
				}
				continue
			}
			now := time.Now()
			j.c.mu.Lock()
			if j.currentLocked() {
				j.s.witnessOK = now
				j.s.lastHeartbeat = now
			}
			j.c.mu.Unlock()
		}
	}
}

func (h *heartbeater) post(j hbJob) error {
	body, err := json.Marshal(heartbeatBody{Cluster: j.c.cfg.Name, Server: j.s.name})
	if err != nil {
		return fmt.Errorf("encode heartbeat: %w", err)
	}
	url := strings.TrimSuffix(j.c.cfg.WitnessURL, "/") + "/v1/heartbeat"
	req, err := http.NewRequestWithContext(h.ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("build heartbeat request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	if j.c.cfg.WitnessToken != "" {
		req.Header.Set("Authorization", "Bearer "+j.c.cfg.WitnessToken)
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
