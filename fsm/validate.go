package fsm

import (
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"slices"
	"strings"

	fsmv1 "github.com/cset-project/cset/proto/cset/fsm/v1"
)

// The admin states, health values, desired states, phases and reasons stored in the state.
const (
	AdminActive   = "active"
	AdminDraining = "draining"
	AdminDisabled = "disabled"

	HealthUnknown     = "unknown"
	HealthUp          = "up"
	HealthDegraded    = "degraded"
	HealthUnreachable = "unreachable"
	HealthPartitioned = "partitioned"
	HealthDown        = "down"

	DesiredOnline  = "online"
	DesiredOffline = "offline"

	PhasePending  = "pending"
	PhaseFencing  = "fencing"
	PhaseHandover = "handover"
	PhaseStarting = "starting"
	PhaseStopping = "stopping"
	PhaseDone     = "done"
	PhaseFailed   = "failed"
	// PhaseBlocked: the handover hooks failed controller.hook_retries times on a failover; the
	// operation holds the workload (nothing else is started for it) until an operator runs
	// 'csetctl operation retry' or 'cancel'.
	PhaseBlocked = "blocked"

	ReasonPlanned   = "planned"
	ReasonFailover  = "failover"
	ReasonDrain     = "drain"
	ReasonRebalance = "rebalance"
	ReasonStart     = "start"
	ReasonStop      = "stop"
	ReasonConflict  = "conflict"
	// ReasonUnreachable: the workload's probe failed probe.unhealthy_after times in a row
	// where it runs and its probe.failover is on.
	ReasonUnreachable = "unreachable"
	// ReasonFailback: the workload returns to its first candidate (failback: auto).
	ReasonFailback = "failback"

	FailbackNever = "never"
	FailbackAuto  = "auto"
	// MaxFailbackAfterSeconds bounds failback_after_seconds: one week.
	MaxFailbackAfterSeconds = 7 * 24 * 3600

	ReachabilityReachable   = "reachable"
	ReachabilityUnreachable = "unreachable"

	ProbeNone  = "none"
	ProbeTCP   = "tcp"
	ProbeHTTP  = "http"
	ProbeHTTPS = "https"

	ProbeDNSKeep     = "keep"
	ProbeDNSWithhold = "withhold"
)

// SchemaVersion is the newest log format this binary writes and understands.
const SchemaVersion = 1

// MaxEvents is the size of the replicated event ring.
const MaxEvents = 10000

// KindDenied is the kind of the events that record refused API calls (the masters aggregate
// them per actor, method and reason). They are kept in a ring of their own, MaxDenialEvents
// long, so that a flood of refused calls never pushes operational events out of the main ring.
const KindDenied = "denied"

// MaxDenialEvents is the size of the ring of KindDenied events.
const MaxDenialEvents = 1000

// MaxRequestIDs bounds the request-id de-duplication table (oldest forgotten first).
const MaxRequestIDs = 10000

// ValidateName checks that s is a DNS label (RFC 1123: 1-63 of a-z, 0-9 and '-', not starting
// or ending with '-'). what names the field in the message, e.g. "member name".
func ValidateName(what, s string) error {
	if s == "" {
		return invalidf("%s is empty: give a DNS label such as \"east\" (a-z, 0-9, '-')", what)
	}
	if len(s) > 63 {
		return invalidf("%s %q is %d characters long: a DNS label has at most 63", what, s, len(s))
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		ok := c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-'
		if !ok {
			return invalidf("%s %q is not a DNS label: it has the character %q at position %d; use lower-case a-z, 0-9 and '-' only", what, s, c, i+1)
		}
	}
	if s[0] == '-' || s[len(s)-1] == '-' {
		return invalidf("%s %q starts or ends with '-': a DNS label may not", what, s)
	}
	return nil
}

// ValidateGroupName checks an ECX group or server name: ECX allows upper case and '_', so this
// only refuses what cannot travel in a URL path segment.
func ValidateGroupName(what, s string) error {
	if s == "" {
		return invalidf("%s is empty", what)
	}
	if len(s) > 255 {
		return invalidf("%s %q is longer than 255 characters", what, s)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c == '/' || c == '?' || c == '#' || c == '%' || c >= 0x7f {
			return invalidf("%s %q has the character %q, which an ECX object name cannot contain", what, s, c)
		}
	}
	return nil
}

// ValidateURL checks an ECX REST endpoint: http or https with a host.
func ValidateURL(what, s string) error {
	u, err := url.Parse(s)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // without the URL, which the message quotes (cut when long)
		}
		return invalidf("%s %q is not a URL: %v", what, s, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return invalidf("%s %q must start with http:// or https:// (ECX's API listens on port 29009)", what, s)
	}
	if u.Hostname() == "" {
		return invalidf("%s %q has no host: write it as http://HOST:29009", what, s)
	}
	return nil
}

// ValidateAddress checks that s is an IPv4 or IPv6 address.
func ValidateAddress(what, s string) error {
	if _, err := netip.ParseAddr(s); err != nil {
		return invalidf("%s %q is not an IP address: give the group's floating or virtual IP, e.g. 10.0.1.10", what, s)
	}
	return nil
}

// ValidateZone checks a DNS zone name and returns it lower-cased with a trailing dot.
func ValidateZone(zone string) (string, error) {
	z := strings.ToLower(strings.TrimSpace(zone))
	if z == "" {
		return "", invalidf("zone is empty: give the cluster set's DNS zone, e.g. cset.example.com.")
	}
	z = strings.TrimSuffix(z, ".")
	if len(z) > 253 {
		return "", invalidf("zone %q is longer than 253 characters", zone)
	}
	for _, label := range strings.Split(z, ".") {
		if err := ValidateName("zone label", label); err != nil {
			return "", invalidf("zone %q: %v", zone, err)
		}
	}
	return z + ".", nil
}

// ValidateMember checks a member's own fields (not references to other objects).
func ValidateMember(m *fsmv1.Member) error {
	var errs []error
	if err := ValidateName("member name", m.GetName()); err != nil {
		errs = append(errs, err)
	}
	if len(m.GetServers()) == 0 {
		errs = append(errs, invalidf("member %q has no servers: add at least one with --server NAME=URL", m.GetName()))
	}
	seen := map[string]bool{}
	for _, s := range m.GetServers() {
		if err := ValidateGroupName("server name", s.GetName()); err != nil {
			errs = append(errs, err)
		}
		if seen[s.GetName()] {
			errs = append(errs, invalidf("member %q lists server %q twice", m.GetName(), s.GetName()))
		}
		seen[s.GetName()] = true
		if err := ValidateURL(fmt.Sprintf("URL of server %q", s.GetName()), s.GetUrl()); err != nil {
			errs = append(errs, err)
		}
	}
	if m.GetCapacity() < 0 {
		errs = append(errs, invalidf("member %q capacity %d is negative: use 0 for unlimited", m.GetName(), m.GetCapacity()))
	}
	if m.GetFaultDomain() != "" {
		if err := ValidateName("fault domain", m.GetFaultDomain()); err != nil {
			errs = append(errs, err)
		}
	}
	if a := m.GetAdmin(); a != "" && a != AdminActive && a != AdminDraining && a != AdminDisabled {
		errs = append(errs, invalidf("admin state %q is unknown: use active, draining or disabled", a))
	}
	return joinInvalid(errs)
}

// ValidateWorkload checks a workload's own fields (not references to other objects).
func ValidateWorkload(w *fsmv1.Workload) error {
	var errs []error
	if err := ValidateName("workload name", w.GetName()); err != nil {
		errs = append(errs, err)
	}
	if err := ValidateGroupName("ECX group name", w.GetGroup()); err != nil {
		errs = append(errs, invalidf("workload %q: %v (give it with --group)", w.GetName(), err))
	}
	if len(w.GetCandidates()) == 0 {
		errs = append(errs, invalidf("workload %q has no candidate members: give them with --candidates M1,M2", w.GetName()))
	}
	for i, c := range w.GetCandidates() {
		if err := ValidateName("candidate member", c); err != nil {
			errs = append(errs, err)
		}
		if slices.Contains(w.GetCandidates()[:i], c) {
			errs = append(errs, invalidf("workload %q lists candidate %q twice", w.GetName(), c))
		}
	}
	// Sorted, so that the joined message (stored in the request table) is the same on every master.
	for _, member := range sortedKeys(w.GetAddresses()) {
		list := w.GetAddresses()[member]
		if !slices.Contains(w.GetCandidates(), member) {
			errs = append(errs, invalidf("workload %q has an address for %q, which is not one of its candidates %v", w.GetName(), member, w.GetCandidates()))
		}
		for _, a := range list.GetAddresses() {
			if err := ValidateAddress(fmt.Sprintf("address of workload %q on %q", w.GetName(), member), a); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if w.GetSize() < 0 {
		errs = append(errs, invalidf("workload %q size %d is negative", w.GetName(), w.GetSize()))
	}
	if d := w.GetDesired(); d != DesiredOnline && d != DesiredOffline {
		errs = append(errs, invalidf("workload %q desired state %q is unknown: use online or offline", w.GetName(), d))
	}
	for _, h := range w.GetHooks() {
		if !strings.HasPrefix(h, "/") {
			errs = append(errs, invalidf("hook %q of workload %q must be an absolute path to an executable on the masters", h, w.GetName()))
		}
	}
	for _, s := range w.GetServices() {
		if !strings.HasPrefix(s.GetName(), "_") || !strings.Contains(s.GetName(), "._") {
			errs = append(errs, invalidf("service %q of workload %q must look like _http._tcp", s.GetName(), w.GetName()))
		}
		if s.GetPort() == 0 || s.GetPort() > 65535 {
			errs = append(errs, invalidf("service %q of workload %q has port %d: use 1-65535", s.GetName(), w.GetName(), s.GetPort()))
		}
	}
	for i, d := range w.GetDependsOn() {
		switch {
		case ValidateName("dependency", d) != nil:
			errs = append(errs, invalidf("workload %q depends_on %q: %v", w.GetName(), d, ValidateName("dependency", d)))
		case d == w.GetName():
			errs = append(errs, invalidf("workload %q depends on itself: leave it out of its own depends_on", w.GetName()))
		case slices.Contains(w.GetDependsOn()[:i], d):
			errs = append(errs, invalidf("workload %q lists dependency %q twice", w.GetName(), d))
		}
	}
	if f := w.GetFailback(); f != "" && f != FailbackNever && f != FailbackAuto {
		errs = append(errs, invalidf("workload %q failback %q is unknown: use never or auto", w.GetName(), f))
	}
	if s := w.GetFailbackAfterSeconds(); s > MaxFailbackAfterSeconds {
		errs = append(errs, invalidf("workload %q failback_after %ds is more than a week", w.GetName(), s))
	}
	errs = append(errs, validateProbe(w)...)
	return joinInvalid(errs)
}

// Bounds of a probe's fields (probe.Max* in the server, which parses the operator's form).
const (
	maxProbeMs    = 3600_000
	maxProbeCount = 100
)

// validateProbe checks a workload's probe: its kind, port and status range, its timing, and
// that every candidate has an address to probe.
func validateProbe(w *fsmv1.Workload) []error {
	p := w.GetProbe()
	if p == nil || p.GetKind() == ProbeNone {
		return nil
	}
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, invalidf("workload %q probe: "+format, append([]any{w.GetName()}, args...)...))
	}
	switch p.GetKind() {
	case ProbeTCP:
	case ProbeHTTP, ProbeHTTPS:
		if !strings.HasPrefix(p.GetPath(), "/") {
			bad("path %q must start with /", p.GetPath())
		}
		if p.GetStatusMin() < 100 || p.GetStatusMax() > 599 || p.GetStatusMin() > p.GetStatusMax() {
			bad("expected status %d-%d is not a range within 100-599", p.GetStatusMin(), p.GetStatusMax())
		}
	default:
		bad("kind %q is unknown: use none, tcp, http or https", p.GetKind())
	}
	if p.GetPort() == 0 || p.GetPort() > 65535 {
		bad("port %d: use 1-65535", p.GetPort())
	}
	if p.GetTimeoutMs() == 0 || p.GetTimeoutMs() > 60_000 {
		bad("timeout %dms: use 1ms-60s", p.GetTimeoutMs())
	}
	if p.GetIntervalMs() < p.GetTimeoutMs() || p.GetIntervalMs() > maxProbeMs {
		bad("interval %dms must be at least the timeout (%dms) and at most 1h", p.GetIntervalMs(), p.GetTimeoutMs())
	}
	if p.GetGraceMs() < p.GetTimeoutMs() || p.GetGraceMs() > maxProbeMs {
		bad("grace %dms must be at least the timeout (%dms) and at most 1h", p.GetGraceMs(), p.GetTimeoutMs())
	}
	if p.GetHealthyAfter() == 0 || p.GetHealthyAfter() > maxProbeCount || p.GetUnhealthyAfter() == 0 || p.GetUnhealthyAfter() > maxProbeCount {
		bad("healthy_after %d and unhealthy_after %d must be in 1-%d", p.GetHealthyAfter(), p.GetUnhealthyAfter(), maxProbeCount)
	}
	if d := p.GetDns(); d != ProbeDNSKeep && d != ProbeDNSWithhold {
		bad("dns %q is unknown: use keep or withhold", d)
	}
	for _, c := range w.GetCandidates() {
		if len(w.GetAddresses()[c].GetAddresses()) == 0 {
			bad("candidate %q has no address to probe: give one with --address %s=IP, or register with --probe none", c, c)
		}
	}
	return errs
}

// joinInvalid joins several invalid-argument errors into one *Error so the code survives.
func joinInvalid(errs []error) error {
	if len(errs) == 0 {
		return nil
	}
	if len(errs) == 1 {
		return errs[0]
	}
	return &Error{Code: CodeInvalidArgument, Msg: errors.Join(errs...).Error()}
}
