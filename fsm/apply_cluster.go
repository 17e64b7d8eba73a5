package fsm

import (
	"slices"
	"strings"

	fsmv1 "github.com/cset-project/cset/proto/cset/fsm/v1"
	"google.golang.org/protobuf/proto"
)

// Defaults for a cluster set's TTLs when the command leaves them zero.
const (
	DefaultTTLSeconds         = 30
	DefaultNegativeTTLSeconds = 5
)

func (a *applier) applySetClusterSet(c *fsmv1.SetClusterSetCommand) error {
	cs := proto.Clone(c.GetClusterSet()).(*fsmv1.ClusterSet)
	if err := ValidateName("cluster set name", cs.GetName()); err != nil {
		return err
	}
	zone, err := ValidateZone(cs.GetZone())
	if err != nil {
		return err
	}
	cs.Zone = zone
	if cs.TtlSeconds == 0 {
		cs.TtlSeconds = DefaultTTLSeconds
	}
	if cs.NegativeTtlSeconds == 0 {
		cs.NegativeTtlSeconds = DefaultNegativeTTLSeconds
	}
	if !proto.Equal(a.s.clusterSet, cs) {
		a.touchDNS()
	}
	a.s.clusterSet = cs
	a.event("admin", "info", "", "", "", "cluster set %s with zone %s (ttl %ds)", cs.Name, cs.Zone, cs.TtlSeconds)
	return nil
}

func (a *applier) applyUpsertMember(c *fsmv1.UpsertMemberCommand) error {
	m := proto.Clone(c.GetMember()).(*fsmv1.Member)
	if err := ValidateMember(m); err != nil {
		return err
	}
	if fd := m.GetFaultDomain(); fd != "" && !a.s.faultDomains.has(fd) {
		return notFoundf("fault domain %q does not exist: create it with 'csetctl faultdomain create %s'", fd, fd)
	}
	old := a.s.members.get(m.Name)
	if old != nil && c.GetCreateOnly() {
		return existsf("member %q already exists: remove it first or add it with --update", m.Name)
	}
	if old == nil {
		if m.Admin == "" {
			m.Admin = AdminActive
		}
		m.Health, m.HealthSinceUnixNano = HealthUnknown, a.at
		a.event("admin", "info", "", m.Name, "", "member %s added with %d servers", m.Name, len(m.Servers))
	} else {
		if m.Admin == "" {
			m.Admin = old.Admin
		}
		if m.Password == "" && c.GetKeepPassword() {
			m.Password = old.Password
		}
		m.Health, m.HealthSinceUnixNano, m.HealthReason = old.Health, old.HealthSinceUnixNano, old.HealthReason
		m.Groups = old.Groups
		if old.Removal != "" {
			// An update does not cancel a removal in progress ('csetctl member undrain' does).
			m.Removal, m.Admin = old.Removal, AdminDraining
		}
		for _, s := range m.Servers {
			if i := slices.IndexFunc(old.Servers, func(o *fsmv1.MemberServer) bool { return o.Name == s.Name }); i >= 0 {
				s.Status = old.Servers[i].Status
			}
		}
		a.event("admin", "info", "", m.Name, "", "member %s updated", m.Name)
	}
	a.s.members.put(m.Name, m)
	return nil
}

func (a *applier) applySetMemberAdmin(c *fsmv1.SetMemberAdminCommand) error {
	m := a.s.members.get(c.GetName())
	if m == nil {
		return notFoundf("member %q does not exist (see 'csetctl member list')", c.GetName())
	}
	switch c.GetAdmin() {
	case AdminActive, AdminDraining, AdminDisabled:
	default:
		return invalidf("admin state %q is unknown: use active, draining or disabled", c.GetAdmin())
	}
	switch {
	case m.Removal != "" && c.GetAdmin() == AdminDisabled:
		return preconditionf("member %q is being removed: it takes no workloads already; 'csetctl member undrain %s' cancels the removal", m.Name, m.Name)
	case m.Removal != "" && c.GetAdmin() == AdminActive:
		a.event("admin", "warn", "", m.Name, "", "removal of member %s cancelled: it is active again", m.Name)
		m.Removal = ""
	}
	if m.Admin != c.GetAdmin() {
		a.event("admin", "info", "", m.Name, "", "member %s admin state %s -> %s", m.Name, m.Admin, c.GetAdmin())
		m.Admin = c.GetAdmin()
	}
	return nil
}

func validHealth(h string) bool {
	switch h {
	case HealthUnknown, HealthUp, HealthDegraded, HealthUnreachable, HealthPartitioned, HealthDown:
		return true
	}
	return false
}

func (a *applier) applySetMemberHealth(c *fsmv1.SetMemberHealthCommand) error {
	m := a.s.members.get(c.GetName())
	if m == nil {
		return notFoundf("member %q does not exist (see 'csetctl member list')", c.GetName())
	}
	if !validHealth(c.GetHealth()) {
		return invalidf("health %q is unknown", c.GetHealth())
	}
	a.setHealth(m, c.GetHealth(), c.GetReason())
	return nil
}

func (a *applier) setHealth(m *fsmv1.Member, health, reason string) {
	if m.Health == health && m.HealthReason == reason {
		return
	}
	sev := "info"
	if health == HealthDown || health == HealthUnreachable || health == HealthPartitioned {
		sev = "warn"
	}
	a.event("detection", sev, "", m.Name, "", "member %s health %s -> %s: %s", m.Name, m.Health, health, reason)
	if m.Health != health {
		m.HealthSinceUnixNano = a.at
	}
	m.Health, m.HealthReason = health, reason
}

func (a *applier) applyUpsertFaultDomain(c *fsmv1.UpsertFaultDomainCommand) error {
	fd := proto.Clone(c.GetFaultDomain()).(*fsmv1.FaultDomain)
	if err := ValidateName("fault domain name", fd.GetName()); err != nil {
		return err
	}
	if a.s.faultDomains.has(fd.Name) && c.GetCreateOnly() {
		return existsf("fault domain %q already exists", fd.Name)
	}
	for _, mn := range c.GetMembers() {
		if !a.s.members.has(mn) {
			return notFoundf("member %q does not exist: add it with 'csetctl member add' before putting it in fault domain %q", mn, fd.Name)
		}
	}
	a.s.faultDomains.put(fd.Name, fd)
	for _, mn := range c.GetMembers() {
		a.s.members.get(mn).FaultDomain = fd.Name
	}
	a.event("admin", "info", "", "", "", "fault domain %s with members %s", fd.Name, strings.Join(c.GetMembers(), ","))
	return nil
}

func (a *applier) applyRemoveFaultDomain(c *fsmv1.RemoveFaultDomainCommand) error {
	if !a.s.faultDomains.has(c.GetName()) {
		return notFoundf("fault domain %q does not exist", c.GetName())
	}
	var users []string
	for _, m := range sortedValues(a.s.members.m) {
		if m.FaultDomain == c.GetName() {
			users = append(users, m.Name)
		}
	}
	if len(users) > 0 {
		return preconditionf("fault domain %q still holds members %s: move them to another fault domain first", c.GetName(), strings.Join(users, ", "))
	}
	a.s.faultDomains.del(c.GetName())
	a.event("admin", "info", "", "", "", "fault domain %s removed", c.GetName())
	return nil
}

func (a *applier) applyUpsertAvailabilitySet(c *fsmv1.UpsertAvailabilitySetCommand) error {
	as := proto.Clone(c.GetAvailabilitySet()).(*fsmv1.AvailabilitySet)
	if err := ValidateName("availability set name", as.GetName()); err != nil {
		return err
	}
	if a.s.availabilitySets.has(as.Name) && c.GetCreateOnly() {
		return existsf("availability set %q already exists", as.Name)
	}
	a.s.availabilitySets.put(as.Name, as)
	a.event("admin", "info", "", "", "", "availability set %s (hard=%v)", as.Name, as.Hard)
	return nil
}

func (a *applier) applyRemoveAvailabilitySet(c *fsmv1.RemoveAvailabilitySetCommand) error {
	if !a.s.availabilitySets.has(c.GetName()) {
		return notFoundf("availability set %q does not exist", c.GetName())
	}
	var users []string
	for _, w := range sortedValues(a.s.workloads.m) {
		if w.AvailabilitySet == c.GetName() {
			users = append(users, w.Name)
		}
	}
	if len(users) > 0 {
		return preconditionf("availability set %q is used by workloads %s: re-register them without it first", c.GetName(), strings.Join(users, ", "))
	}
	a.s.availabilitySets.del(c.GetName())
	a.event("admin", "info", "", "", "", "availability set %s removed", c.GetName())
	return nil
}

func (a *applier) applyRegisterMaster(c *fsmv1.RegisterMasterCommand) error {
	m := proto.Clone(c.GetMaster()).(*fsmv1.Master)
	if m.GetId() == "" || m.GetRaftAddr() == "" || m.GetGrpcAddr() == "" {
		return invalidf("a master needs an id, a Raft address and a gRPC address")
	}
	old := a.s.masters.get(m.Id)
	if old != nil && m.JoinedUnixNano == 0 {
		m.JoinedUnixNano = old.JoinedUnixNano // a re-registration keeps the first join time
	}
	if old != nil && proto.Equal(old, m) {
		return nil
	}
	if m.JoinedUnixNano == 0 {
		m.JoinedUnixNano = a.at
	}
	a.s.masters.put(m.Id, m)
	a.touchDNS()
	a.event("admin", "info", "", "", "", "master %s registered (raft %s, grpc %s)", m.Id, m.RaftAddr, m.GrpcAddr)
	return nil
}

func (a *applier) applyRemoveMaster(c *fsmv1.RemoveMasterCommand) error {
	if !a.s.masters.has(c.GetId()) {
		return notFoundf("master %q is not registered (see 'csetctl raft peers')", c.GetId())
	}
	a.s.masters.del(c.GetId())
	a.touchDNS()
	a.event("admin", "warn", "", "", "", "master %s removed", c.GetId())
	return nil
}
