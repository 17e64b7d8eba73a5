package ecxclient

import (
	"context"
	"fmt"
	"net/url"
	"time"
)

// This file holds the endpoints of NEC's newest REST tool that cset's drills
// and operators use (docs/ecx.md): dummy failures of servers and monitors,
// the mirror backup and restore actions with their status, and the resources
// of every group at once. ECX's version matrix for them is unknown; an older
// ECX answers 404 (a *NotFoundError of kind "path").

// ListGroupResources returns the resources of every group, by group name
// (GET /api/v1/groups?select=resources). A group that lists none maps to an
// empty, non-nil slice.
func (c *Client) ListGroupResources(ctx context.Context) (map[string][]ResourceRef, error) {
	res, err := c.get(ctx, "/api/v1/groups", "select=resources", "", "")
	if err != nil {
		return nil, err
	}
	list, err := decodeGroups(res.env)
	if err != nil {
		return nil, c.malformed(res, err)
	}
	out := make(map[string][]ResourceRef, len(list))
	for _, g := range list {
		if g.Name == "" {
			return nil, c.malformed(res, fmt.Errorf("a group without a name"))
		}
		refs := g.Resources
		if refs == nil {
			refs = []ResourceRef{}
		}
		out[g.Name] = refs
	}
	return out, nil
}

// StartServerDummyFailure makes ECX simulate the failure of server (POST
// /api/v1/servers/{server}/dummy-failure/start): its groups fail over as after
// a real failure. StopServerDummyFailure ends it; groups do not fail back.
func (c *Client) StartServerDummyFailure(ctx context.Context, server string) error {
	return c.serverOp(ctx, server, "dummy-failure/start")
}

// StopServerDummyFailure ends a server's dummy failure (POST
// /api/v1/servers/{server}/dummy-failure/stop).
func (c *Client) StopServerDummyFailure(ctx context.Context, server string) error {
	return c.serverOp(ctx, server, "dummy-failure/stop")
}

// StartMonitorDummyFailure makes monitor report a failure on target, or on
// every server when target is "" (POST
// /api/v1/monitors/{monitor}/dummy-failure/start {"target"}); ECX runs the
// monitor's recovery action. The body always carries "target", "" included,
// as NEC's tool sends it.
func (c *Client) StartMonitorDummyFailure(ctx context.Context, monitor, target string) error {
	return c.monitorDummy(ctx, monitor, "start", target)
}

// StopMonitorDummyFailure ends a monitor's dummy failure on target ("" =
// every server).
func (c *Client) StopMonitorDummyFailure(ctx context.Context, monitor, target string) error {
	return c.monitorDummy(ctx, monitor, "stop", target)
}

func (c *Client) monitorDummy(ctx context.Context, monitor, op, target string) error {
	if err := checkName("monitor", monitor); err != nil {
		return err
	}
	return c.post(ctx, "/api/v1/monitors/"+url.PathEscape(monitor)+"/dummy-failure/"+op, targetBody{Target: target}, "monitor", monitor)
}

// MirrorKind is the kind of a mirror action: a backup or a restore.
type MirrorKind string

// The mirror kinds.
const (
	MirrorBackup  MirrorKind = "backup"
	MirrorRestore MirrorKind = "restore"
)

// MirrorStep is the step of a mirror action (clpbackup/clprestore --pre or --post).
type MirrorStep string

// The mirror steps.
const (
	MirrorPreAction  MirrorStep = "preaction"
	MirrorPostAction MirrorStep = "postaction"
)

// MirrorOptions are the optional switches of a mirror action; zero values
// are not sent. SkipCopy applies to restores only.
type MirrorOptions struct {
	NoShutdown, NoReboot, OnlyShutdown, OnlyReboot, Online, SkipCopy bool
	// Timeout is the action's API timeout, sent in whole seconds (ECX's
	// default is 900 s when it is not sent).
	Timeout time.Duration
}

type mirrorBody struct {
	NoShutdown   bool `json:"no-shutdown,omitempty"`
	NoReboot     bool `json:"no-reboot,omitempty"`
	OnlyShutdown bool `json:"only-shutdown,omitempty"`
	OnlyReboot   bool `json:"only-reboot,omitempty"`
	Online       bool `json:"online,omitempty"`
	SkipCopy     bool `json:"skip-copy,omitempty"`
	Timeout      int  `json:"timeout,omitempty"`
}

func checkMirrorKind(kind MirrorKind) error {
	if kind != MirrorBackup && kind != MirrorRestore {
		return fmt.Errorf("%w: mirror kind %q: use %q or %q", ErrInvalidArgument, kind, MirrorBackup, MirrorRestore)
	}
	return nil
}

// RunMirrorAction starts a mirror backup or restore step (POST
// /api/v1/mirrors/{kind}/{step}). It runs asynchronously: poll
// GetMirrorStatus until it is no longer running.
func (c *Client) RunMirrorAction(ctx context.Context, kind MirrorKind, step MirrorStep, opts MirrorOptions) error {
	if err := checkMirrorKind(kind); err != nil {
		return err
	}
	if step != MirrorPreAction && step != MirrorPostAction {
		return fmt.Errorf("%w: mirror step %q: use %q or %q", ErrInvalidArgument, step, MirrorPreAction, MirrorPostAction)
	}
	if opts.SkipCopy && kind != MirrorRestore {
		return fmt.Errorf("%w: skip-copy applies to restores only", ErrInvalidArgument)
	}
	if opts.Timeout < 0 || opts.Timeout > 0 && opts.Timeout < time.Second {
		return fmt.Errorf("%w: mirror action timeout %s: give whole seconds, at least 1s", ErrInvalidArgument, opts.Timeout)
	}
	body := mirrorBody{
		NoShutdown: opts.NoShutdown, NoReboot: opts.NoReboot, OnlyShutdown: opts.OnlyShutdown,
		OnlyReboot: opts.OnlyReboot, Online: opts.Online, SkipCopy: opts.SkipCopy,
		Timeout: int(opts.Timeout / time.Second),
	}
	var b any
	if body != (mirrorBody{}) {
		b = body
	}
	return c.post(ctx, "/api/v1/mirrors/"+string(kind)+"/"+string(step), b, "", "")
}

// MirrorStatus is the answer of GET /api/v1/mirrors/{kind}/status.
type MirrorStatus struct {
	// Status is detail.status as ECX sent it: "running" while an action
	// runs, else a message about the last one (its text is ECX's own).
	Status string
	// Running is true while an action runs.
	Running bool
}

// GetMirrorStatus returns the state of the last mirror action of kind.
func (c *Client) GetMirrorStatus(ctx context.Context, kind MirrorKind) (MirrorStatus, error) {
	if err := checkMirrorKind(kind); err != nil {
		return MirrorStatus{}, err
	}
	res, err := c.get(ctx, "/api/v1/mirrors/"+string(kind)+"/status", "", "", "")
	if err != nil {
		return MirrorStatus{}, err
	}
	st, err := decodeMirrorStatus(res.env)
	if err != nil {
		return MirrorStatus{}, c.malformed(res, err)
	}
	return MirrorStatus{Status: st, Running: st == "running"}, nil
}
