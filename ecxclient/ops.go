package ecxclient

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
)

// This file holds the operations (POST) of docs/ecx.md. ECX runs
// them asynchronously: a nil error means only that ECX accepted the request
// (HTTP 2xx, code 0, empty message). Poll, or use the *AndWait helpers.

func (c *Client) post(ctx context.Context, path string, body any, kind, name string) error {
	r := request{method: http.MethodPost, path: path, kind: kind, name: name}
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("ecx member %q: encode body of %s: %w", c.name, path, err)
		}
		r.body = b
	}
	_, err := c.do(ctx, r)
	return err
}

// targetBody is {"target": server}.
type targetBody struct {
	Target string `json:"target"`
}

// optionalTarget returns a body for target, or nil (no body) when it is "".
func optionalTarget(target string) any {
	if target == "" {
		return nil
	}
	return targetBody{Target: target}
}

func requireTarget(op, target string) error {
	if target == "" {
		return fmt.Errorf("%w: %s needs a target server", ErrInvalidArgument, op)
	}
	return nil
}

// StartCluster starts the cluster service on every server (POST /api/v1/cluster/start).
func (c *Client) StartCluster(ctx context.Context) error {
	return c.post(ctx, "/api/v1/cluster/start", nil, "", "")
}

// StopCluster stops the cluster service (POST /api/v1/cluster/stop).
func (c *Client) StopCluster(ctx context.Context) error {
	return c.post(ctx, "/api/v1/cluster/stop", nil, "", "")
}

// RebootCluster reboots every server (POST /api/v1/cluster/reboot).
func (c *Client) RebootCluster(ctx context.Context) error {
	return c.post(ctx, "/api/v1/cluster/reboot", nil, "", "")
}

// ShutdownCluster shuts every server down (POST /api/v1/cluster/shutdown).
func (c *Client) ShutdownCluster(ctx context.Context) error {
	return c.post(ctx, "/api/v1/cluster/shutdown", nil, "", "")
}

// SuspendCluster suspends the cluster (POST /api/v1/cluster/suspend).
func (c *Client) SuspendCluster(ctx context.Context) error {
	return c.post(ctx, "/api/v1/cluster/suspend", nil, "", "")
}

// ResumeCluster resumes a suspended cluster (POST /api/v1/cluster/resume).
func (c *Client) ResumeCluster(ctx context.Context) error {
	return c.post(ctx, "/api/v1/cluster/resume", nil, "", "")
}

// toRatioDuration is ECX's "Nm", "Nh" or "Nd".
var toRatioDuration = regexp.MustCompile(`^([1-9][0-9]{0,5})([mhd])$`)

// maxToRatioMinutes is ECX's limit of 30 days.
const maxToRatioMinutes = 30 * 24 * 60

// ValidateToRatio checks SetToRatio's arguments: ratio 1-10000; dur "Nm",
// "Nh" or "Nd" of at most 30 days, required when ratio > 1 (and ignored,
// never sent, when ratio is 1, as ECX requires).
func ValidateToRatio(ratio int, dur string) error {
	if ratio < 1 || ratio > 10000 {
		return fmt.Errorf("%w: timeout ratio %d is outside 1-10000", ErrInvalidArgument, ratio)
	}
	if ratio == 1 {
		return nil
	}
	m := toRatioDuration.FindStringSubmatch(dur)
	if m == nil {
		return fmt.Errorf("%w: timeout ratio duration %q must look like 30m, 12h or 7d", ErrInvalidArgument, dur)
	}
	n, _ := strconv.Atoi(m[1]) // at most 6 digits
	minutes := n * map[string]int{"m": 1, "h": 60, "d": 24 * 60}[m[2]]
	if minutes > maxToRatioMinutes {
		return fmt.Errorf("%w: timeout ratio duration %q exceeds ECX's 30 days", ErrInvalidArgument, dur)
	}
	return nil
}

// SetToRatio stretches the monitor and heartbeat timeouts by ratio for dur
// (POST /api/v1/cluster/toratio/set); see ValidateToRatio.
func (c *Client) SetToRatio(ctx context.Context, ratio int, dur string) error {
	if err := ValidateToRatio(ratio, dur); err != nil {
		return err
	}
	body := map[string]any{"ratio": ratio}
	if ratio != 1 {
		body["time"] = dur
	}
	return c.post(ctx, "/api/v1/cluster/toratio/set", body, "", "")
}

// ResetToRatio restores the configured timeouts (POST /api/v1/cluster/toratio/reset).
func (c *Client) ResetToRatio(ctx context.Context) error {
	return c.post(ctx, "/api/v1/cluster/toratio/reset", nil, "", "")
}

func (c *Client) serverOp(ctx context.Context, server, op string) error {
	if err := checkName("server", server); err != nil {
		return err
	}
	return c.post(ctx, "/api/v1/servers/"+url.PathEscape(server)+"/"+op, nil, "server", server)
}

// StartServer starts the ECX service on server (POST /api/v1/servers/{server}/start).
func (c *Client) StartServer(ctx context.Context, server string) error {
	return c.serverOp(ctx, server, "start")
}

// StopServer stops the ECX service on server (POST /api/v1/servers/{server}/stop).
func (c *Client) StopServer(ctx context.Context, server string) error {
	return c.serverOp(ctx, server, "stop")
}

// RebootServer reboots server (POST /api/v1/servers/{server}/reboot).
func (c *Client) RebootServer(ctx context.Context, server string) error {
	return c.serverOp(ctx, server, "reboot")
}

// ShutdownServer shuts server down (POST /api/v1/servers/{server}/shutdown).
func (c *Client) ShutdownServer(ctx context.Context, server string) error {
	return c.serverOp(ctx, server, "shutdown")
}

func (c *Client) groupOp(ctx context.Context, group, op string, body any) error {
	if err := checkName("group", group); err != nil {
		return err
	}
	return c.post(ctx, "/api/v1/groups/"+url.PathEscape(group)+"/"+op, body, "group", group)
}

// StartGroup starts group on target (POST /api/v1/groups/{group}/start
// {"target"}). With target "" no body is sent and ECX picks the server;
// NEC's newer tooling always sends a target, so prefer giving one.
func (c *Client) StartGroup(ctx context.Context, group, target string) error {
	return c.groupOp(ctx, group, "start", optionalTarget(target))
}

// StopGroup stops group (POST /api/v1/groups/{group}/stop), with an
// optional {"target"} when target is not "".
func (c *Client) StopGroup(ctx context.Context, group, target string) error {
	return c.groupOp(ctx, group, "stop", optionalTarget(target))
}

// MoveGroup moves group to target (POST /api/v1/groups/{group}/move). With
// target "" ECX moves it according to its failover policy.
func (c *Client) MoveGroup(ctx context.Context, group, target string) error {
	return c.groupOp(ctx, group, "move", optionalTarget(target))
}

// StartAllGroups starts every startable group on target (POST /api/v1/groups/start).
func (c *Client) StartAllGroups(ctx context.Context, target string) error {
	if err := requireTarget("starting all groups", target); err != nil {
		return err
	}
	return c.post(ctx, "/api/v1/groups/start", targetBody{Target: target}, "server", target)
}

// StopAllGroups stops every group on target (POST /api/v1/groups/stop).
func (c *Client) StopAllGroups(ctx context.Context, target string) error {
	if err := requireTarget("stopping all groups", target); err != nil {
		return err
	}
	return c.post(ctx, "/api/v1/groups/stop", targetBody{Target: target}, "server", target)
}

// StartResource starts resource on target, with the stopped resources it
// depends on (POST /api/v1/resources/{resource}/start).
func (c *Client) StartResource(ctx context.Context, resource, target string) error {
	if err := checkName("resource", resource); err != nil {
		return err
	}
	if err := requireTarget("starting a resource", target); err != nil {
		return err
	}
	return c.post(ctx, "/api/v1/resources/"+url.PathEscape(resource)+"/start", targetBody{Target: target}, "resource", resource)
}

// StopResource stops resource (POST /api/v1/resources/{resource}/stop).
func (c *Client) StopResource(ctx context.Context, resource string) error {
	if err := checkName("resource", resource); err != nil {
		return err
	}
	return c.post(ctx, "/api/v1/resources/"+url.PathEscape(resource)+"/stop", nil, "resource", resource)
}

func (c *Client) monitorOp(ctx context.Context, monitor, op, target string) error {
	if err := checkName("monitor", monitor); err != nil {
		return err
	}
	if err := requireTarget(op+" of a monitor", target); err != nil {
		return err
	}
	return c.post(ctx, "/api/v1/monitors/"+url.PathEscape(monitor)+"/"+op, targetBody{Target: target}, "monitor", monitor)
}

// SuspendMonitor suspends monitor on target (POST /api/v1/monitors/{monitor}/suspend).
func (c *Client) SuspendMonitor(ctx context.Context, monitor, target string) error {
	return c.monitorOp(ctx, monitor, "suspend", target)
}

// ResumeMonitor resumes monitor on target (POST /api/v1/monitors/{monitor}/resume).
func (c *Client) ResumeMonitor(ctx context.Context, monitor, target string) error {
	return c.monitorOp(ctx, monitor, "resume", target)
}
