package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/spf13/cobra"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	apiv1 "github.com/cset-project/cset/proto/cset/api/v1"
)

// maxEvents is the size of the replicated event ring.
const maxEvents = 10000

func (a *app) eventsCommand() *cobra.Command {
	var follow bool
	var limit int
	var workload, member string
	cmd := &cobra.Command{
		Use:   "events",
		Short: "Show the shared timeline: detections, decisions, fences, actions, DNS changes",
		Long: `events prints the newest events (--limit, default 100), oldest first, optionally
only those of one workload or member. With --follow it then keeps printing new
events as they are committed until interrupted (Ctrl-C exits 0) or the server
ends the stream. With -o json it prints a JSON array, or with --follow one JSON
object per line (JSON Lines).`,
		Args: argNames(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if limit < 1 || limit > maxEvents {
				return usagef("--limit %d: want 1 to %d", limit, maxEvents)
			}
			req := &apiv1.ListEventsRequest{Limit: uint32(limit), Workload: workload, Member: member}
			return a.events(cmd.Context(), req, follow)
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&follow, "follow", "f", false, "keep printing new events until interrupted")
	f.IntVar(&limit, "limit", 100, "how many of the newest events to print first")
	f.StringVar(&workload, "workload", "", "only events of this workload")
	f.StringVar(&member, "member", "", "only events of this member")
	a.completeFlag(cmd, "workload", a.workloadNames())
	a.completeFlag(cmd, "member", a.memberNames())
	return cmd
}

func (a *app) events(ctx context.Context, req *apiv1.ListEventsRequest, follow bool) error {
	r, err := call(ctx, a, service.ListEvents, req)
	if err != nil {
		return err
	}
	evs := r.GetEvents()
	sort.SliceStable(evs, func(i, j int) bool { return evs[i].GetSeq() < evs[j].GetSeq() })
	if !follow {
		out := make([]eventJSON, 0, len(evs))
		for _, e := range evs {
			out = append(out, toEventJSON(e))
		}
		return a.emit(out, func() error {
			for _, e := range evs {
				fmt.Fprintln(a.stdout, eventLine(e))
			}
			return nil
		})
	}
	var last uint64
	for _, e := range evs {
		if err := a.printEvent(e); err != nil {
			return err
		}
		last = e.GetSeq()
	}
	return a.followEvents(ctx, req, last)
}

// followEvents streams events after seq last until ctx ends or the server
// closes the stream. An interrupt is a normal end, not an error. The stream
// has no deadline, since it is meant to last: it takes the client from api,
// not from do.
func (a *app) followEvents(ctx context.Context, req *apiv1.ListEventsRequest, last uint64) error {
	c, err := a.api()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := c.WatchEvents(ctx, &apiv1.ListEventsRequest{AfterSeq: last, Workload: req.GetWorkload(), Member: req.GetMember()})
	if err != nil {
		return a.endOfFollow(ctx, err)
	}
	for {
		e, err := stream.Recv()
		if err != nil {
			return a.endOfFollow(ctx, err)
		}
		if e.GetSeq() != 0 && e.GetSeq() <= last {
			continue // already printed from the list
		}
		last = e.GetSeq()
		if err := a.printEvent(e); err != nil {
			return err
		}
	}
}

func (a *app) endOfFollow(ctx context.Context, err error) error {
	if ctx.Err() != nil || errors.Is(err, io.EOF) || status.Code(err) == codes.Canceled {
		return nil
	}
	return err
}

func (a *app) printEvent(e *apiv1.Event) error {
	if a.jsonOutput() {
		return printJSONLine(a.stdout, toEventJSON(e))
	}
	_, err := fmt.Fprintln(a.stdout, eventLine(e))
	return err
}

// eventLine formats one event for people:
// TIME SEVERITY KIND [workload=W member=M op=ID actor=A] MESSAGE.
func eventLine(e *apiv1.Event) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s  %-5s  %-16s", shortTime(e.GetTimeUnixNano()), e.GetSeverity(), e.GetKind())
	for _, p := range [][2]string{{"workload", e.GetWorkload()}, {"member", e.GetMember()}, {"op", e.GetOperationId()}, {"actor", e.GetActor()}} {
		if p[1] != "" {
			fmt.Fprintf(&b, "  %s=%s", p[0], termSafe(p[1]))
		}
	}
	b.WriteString("  ")
	b.WriteString(termSafe(e.GetMessage())) // one event, one line: a newline in it is escaped
	return b.String()
}
