package server

import (
	"context"
	"fmt"

	"github.com/cset-project/cset/fsm"
	fsmv1 "github.com/cset-project/cset/proto/cset/fsm/v1"
)

// Group commit: concurrent writes on the leader are packed into one BatchCommand so a single
// Raft entry (one log append, one replication round, one fsync on each master) serves many of
// them. Each write keeps its own request id, actor and time and gets its own result from the FSM.
const (
	maxBatchableEntry = 64 << 10 // larger entries (restores, big declarations) go alone
	maxBatchEntries   = 256
	maxBatchBytes     = 1 << 20
	batchesInFlight   = 4 // batches handed to raft concurrently; more writes queue for the next
)

type pendingWrite struct {
	e    *fsmv1.LogEntry
	size int
	done chan writeResult // buffered 1
}

type writeResult struct {
	res *fsm.Result
	err error
}

type batcher struct {
	s     *Server
	queue chan *pendingWrite
	slots chan struct{}
}

func newBatcher(s *Server) *batcher {
	return &batcher{s: s, queue: make(chan *pendingWrite, 4*maxBatchEntries), slots: make(chan struct{}, batchesInFlight)}
}

// submit queues one entry and waits for its own result. A caller whose context ends first gets
// the context's error: the write may still be applied (the request id makes a retry safe).
func (b *batcher) submit(ctx context.Context, e *fsmv1.LogEntry, size int) (*fsm.Result, error) {
	p := &pendingWrite{e: e, size: size, done: make(chan writeResult, 1)}
	select {
	case b.queue <- p:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	select {
	case r := <-p.done:
		return r.res, r.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// run packs queued writes into batches until ctx ends. While every slot is busy, writes pile up
// in the queue, so the next batch is larger: the busier the leader, the more each commit carries.
func (b *batcher) run(ctx context.Context) {
	for {
		var first *pendingWrite
		select {
		case <-ctx.Done():
			return
		case first = <-b.queue:
		}
		select {
		case b.slots <- struct{}{}:
		case <-ctx.Done():
			first.done <- writeResult{err: ErrNoLeaderHere}
			return
		}
		batch, bytes := []*pendingWrite{first}, first.size
	fill:
		for len(batch) < maxBatchEntries && bytes < maxBatchBytes {
			select {
			case p := <-b.queue:
				batch, bytes = append(batch, p), bytes+p.size
			default:
				break fill
			}
		}
		go func() {
			defer func() { <-b.slots }()
			b.apply(batch)
		}()
	}
}

func (b *batcher) apply(batch []*pendingWrite) {
	if len(batch) == 1 {
		enc, err := fsm.Encode(batch[0].e)
		if err == nil {
			var res *fsm.Result
			res, err = b.s.applyEncoded(context.Background(), enc)
			batch[0].done <- writeResult{res: res, err: err}
			return
		}
		batch[0].done <- writeResult{err: err}
		return
	}
	cmd := &fsmv1.BatchCommand{Entries: make([]*fsmv1.LogEntry, len(batch))}
	for i, p := range batch {
		cmd.Entries[i] = p.e
	}
	enc, err := fsm.Encode(&fsmv1.LogEntry{Command: &fsmv1.LogEntry_Batch{Batch: cmd}})
	var res *fsm.Result
	if err == nil {
		res, err = b.s.applyEncoded(context.Background(), enc)
	}
	if err == nil && len(res.Batch) != len(batch) {
		err = fmt.Errorf("raft apply: batch of %d entries answered with %d results", len(batch), len(res.Batch))
	}
	for i, p := range batch {
		if err != nil {
			p.done <- writeResult{err: err}
		} else {
			p.done <- writeResult{res: res.Batch[i]}
		}
	}
	b.s.metrics.batchSize.Observe(float64(len(batch)))
}
