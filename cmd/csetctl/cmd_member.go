package main

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	apiv1 "github.com/cset-project/cset/proto/cset/api/v1"
)

func (a *app) memberCommand() *cobra.Command {
	return groupCommand("member", "Add, inspect and administer member ECX clusters",
		a.memberAddCommand(),
		a.memberListCommand(),
		a.memberShowCommand(),
		a.memberCheckCommand(),
		a.memberRemoveCommand(),
		a.memberAdminCommand("drain", "draining", "Move workloads off a member and place none on it"),
		a.memberAdminCommand("undrain", "active", "Make a drained or disabled member active again"),
		a.memberAdminCommand("disable", "disabled", "Take a member out of placement and failover entirely"),
		a.memberDeclareDownCommand(),
	)
}

type memberAddFlags struct {
	servers          []string
	faultDomain      string
	capacity         int64
	user             string
	passwordFile     string
	caFile           string
	insecure         bool
	labels           []string
	heartbeatTimeout time.Duration
	update           bool
}

func (a *app) memberAddCommand() *cobra.Command {
	var fl memberAddFlags
	cmd := &cobra.Command{
		Use:   "add NAME --server NAME=URL ...",
		Short: "Add a member ECX cluster (or replace one with --update)",
		Long: `add registers the ECX cluster NAME with the REST endpoint of each of its servers.

The ECX password is never given on the command line: put it in a file readable
only by you and pass --password-file FILE, or set CSET_ECX_PASSWORD. It is sent
once to the masters and never printed or returned.

The leader then checks the member through its REST API as 'csetctl member check'
does, and what fails or needs attention is printed on stderr as "warning:"
lines. The member is added all the same.`,
		Example: `  csetctl member add east --server east-1=http://10.0.0.1:29009 --server east-2=http://10.0.0.2:29009 \
      --fault-domain rack-a --capacity 10 --user root --password-file /etc/cset/east.pw`,
		Args: argNames("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			req, err := a.memberAddRequest(args[0], &fl)
			if err != nil {
				return err
			}
			r, err := call(cmd.Context(), a, service.AddMember, req)
			if err != nil {
				return err
			}
			a.printMemberWarnings(r.GetMember().GetName(), r.GetWarnings())
			verb := "added"
			if fl.update {
				verb = "updated"
			}
			return a.emitf(toMemberJSON(r.GetMember()), "member %s %s (%d servers)\n", r.GetMember().GetName(), verb, len(r.GetMember().GetServers()))
		},
	}
	f := cmd.Flags()
	f.StringArrayVar(&fl.servers, "server", nil, "ECX server NAME=URL of its REST endpoint, e.g. east-1=https://10.0.0.1:29009 (repeat per server, at most 32; required; no user or password in the URL: use --user and --password-file)")
	f.StringVar(&fl.faultDomain, "fault-domain", "", "fault domain of the member")
	f.Int64Var(&fl.capacity, "capacity", 0, "sum of workload sizes the member can run, at most 1000000000 (0 = unlimited)")
	f.StringVar(&fl.user, "user", "", "ECX user for Basic auth (needs --password-file or CSET_ECX_PASSWORD)")
	f.StringVar(&fl.passwordFile, "password-file", "", "file holding the ECX password (default: env CSET_ECX_PASSWORD)")
	f.StringVar(&fl.caFile, "ca-file", "", "CA bundle for https endpoints: a path on every master")
	f.BoolVar(&fl.insecure, "insecure-skip-verify", false, "do not verify the TLS certificates of https endpoints")
	f.StringArrayVar(&fl.labels, "label", nil, "label KEY=VALUE (repeatable)")
	f.DurationVar(&fl.heartbeatTimeout, "heartbeat-timeout", 0, "the member's ECX heartbeat timeout, checked against the masters' fence_after (0 = not declared)")
	f.BoolVar(&fl.update, "update", false, "replace an existing member instead of failing")
	a.completeFlag(cmd, "fault-domain", a.faultDomainNames())
	return cmd
}

// memberAddRequest validates the flags and reads the password.
func (a *app) memberAddRequest(name string, fl *memberAddFlags) (*apiv1.AddMemberRequest, error) {
	if err := checkName("member", name); err != nil {
		return nil, &usageError{msg: err.Error()}
	}
	req := &apiv1.AddMemberRequest{
		Name: name, FaultDomain: fl.faultDomain, Capacity: fl.capacity, User: fl.user,
		CaFile: fl.caFile, InsecureSkipVerify: fl.insecure, Update: fl.update,
	}
	if len(fl.servers) == 0 {
		return nil, usagef("at least one --server NAME=URL is required, e.g. --server %s-1=http://10.0.0.1:29009", name)
	}
	seen := map[string]bool{}
	for _, s := range fl.servers {
		spec, err := parseServer(s)
		if err != nil {
			return nil, &usageError{msg: err.Error()}
		}
		if seen[spec.Name] {
			return nil, usagef("--server %s is given twice", spec.Name)
		}
		seen[spec.Name] = true
		req.Servers = append(req.Servers, spec)
	}
	if fl.faultDomain != "" {
		if err := checkName("fault domain", fl.faultDomain); err != nil {
			return nil, &usageError{msg: "--fault-domain: " + err.Error()}
		}
	}
	if fl.capacity < 0 {
		return nil, usagef("--capacity %d: must not be negative", fl.capacity)
	}
	if len(fl.labels) > 0 {
		req.Labels = map[string]string{}
	}
	for _, l := range fl.labels {
		k, v, err := parseLabel(l)
		if err != nil {
			return nil, &usageError{msg: err.Error()}
		}
		req.Labels[k] = v
	}
	if fl.heartbeatTimeout < 0 || fl.heartbeatTimeout%time.Millisecond != 0 {
		return nil, usagef("--heartbeat-timeout %s: want a positive duration in whole milliseconds, e.g. 30s", fl.heartbeatTimeout)
	}
	req.HeartbeatTimeoutMs = uint32(fl.heartbeatTimeout / time.Millisecond)
	pw, err := a.password(fl.user, fl.passwordFile)
	if err != nil {
		return nil, err
	}
	req.Password = pw
	return req, nil
}

// password returns the ECX password for user from file or CSET_ECX_PASSWORD.
func (a *app) password(user, file string) (string, error) {
	if file != "" {
		if user == "" {
			return "", usagef("--password-file needs --user")
		}
		return readPasswordFile(file, func(msg string) { fmt.Fprintln(a.stderr, msg) })
	}
	if user == "" {
		return "", nil
	}
	if pw := a.getenv(envPassword); pw != "" {
		return pw, nil
	}
	return "", usagef("--user %s needs a password: pass --password-file FILE (a file holding only the password) or set %s", user, envPassword)
}

func (a *app) memberListCommand() *cobra.Command {
	return listCommand(a, "List the members with their admin state, health and load", service.ListMembers,
		(*apiv1.ListMembersResponse).GetMembers, toMemberJSON,
		[]string{"NAME", "ADMIN", "HEALTH", "FAULT DOMAIN", "LOAD/CAPACITY", "SERVERS", "WORKLOADS"},
		func(m *apiv1.Member) []string {
			admin := m.GetAdmin()
			if m.GetRemoval() != "" {
				admin += " (removing)"
			}
			return []string{m.GetName(), admin, m.GetHealth(), m.GetFaultDomain(), loadCapacity(m),
				fmt.Sprint(len(m.GetServers())), fmt.Sprint(len(m.GetWorkloads()))}
		})
}

// removalText describes a member's removal state for people.
func removalText(removal string) string {
	switch removal {
	case "":
		return "no"
	case "force":
		return "in progress (--force: workloads that cannot move are stopped)"
	}
	return "in progress (its workloads are moved off it first)"
}

func loadCapacity(m *apiv1.Member) string {
	if m.GetCapacity() == 0 {
		return fmt.Sprintf("%d/unlimited", m.GetLoad())
	}
	return fmt.Sprintf("%d/%d", m.GetLoad(), m.GetCapacity())
}

func (a *app) memberShowCommand() *cobra.Command {
	return nameCommand(a, "show NAME", "Show one member with its servers and workloads", true, a.memberNames(), service.GetMember,
		func(_ string, r *apiv1.MemberResponse) error {
			return a.emit(toMemberJSON(r.GetMember()), func() error { return a.printMember(r.GetMember()) })
		})
}

func (a *app) printMember(m *apiv1.Member) error {
	health := m.GetHealth()
	if m.GetHealthReason() != "" {
		health += " (" + m.GetHealthReason() + ")"
	}
	labels := ""
	for _, k := range sortedKeys(m.GetLabels()) {
		if labels != "" {
			labels += ","
		}
		labels += k + "=" + m.GetLabels()[k]
	}
	user := m.GetUser()
	if user != "" {
		user += " (password " + map[bool]string{true: "set", false: "not set"}[m.GetPasswordSet()] + ")"
	}
	verify := "yes"
	if m.GetInsecureSkipVerify() {
		verify = "NO (insecure_skip_verify: the ECX certificates are not checked)"
	}
	err := kv(a.stdout,
		"name", m.GetName(),
		"admin", m.GetAdmin(),
		"removal", removalText(m.GetRemoval()),
		"health", health,
		"fault domain", m.GetFaultDomain(),
		"load/capacity", loadCapacity(m),
		"labels", labels,
		"user", user,
		"tls ca file", m.GetCaFile(),
		"tls verify", verify,
		"workloads", list(m.GetWorkloads()),
	)
	if err != nil {
		return err
	}
	fmt.Fprintln(a.stdout)
	t := newTable(a.stdout, "SERVER", "STATUS", "URL")
	for _, s := range m.GetServers() {
		t.row(s.GetName(), s.GetStatus(), s.GetUrl())
	}
	return t.flush()
}

func (a *app) memberRemoveCommand() *cobra.Command {
	var force, wait bool
	var waitTimeout time.Duration
	cmd := &cobra.Command{
		Use:   "remove NAME",
		Short: "Remove a member, after moving its workloads off it under the fence",
		Long: `remove takes member NAME out of the cluster set and out of every workload's
candidates. No cset group is ever left running on it unfenced:

  - nothing of cset runs there (or it is declared down): it is removed at once;
  - it runs workloads and the masters reach it: it is drained (admin state
    draining, removal "move") and each workload is moved to another candidate
    through the normal phases (stop under the fence, handover, start); the
    member is deleted when no cset group runs there any more. A workload no
    other member can take waits, and so does the removal;
  - the masters cannot reach it: refused, since its groups may still run.
    Wait until it answers again, or, if it is really dead, confirm it with
    'csetctl member declare-down NAME' and remove it then.

--force does not wait for a member that can take a workload: what can move is
moved, what cannot is stopped on the member under the fence, and started on
another candidate later when one can take it. It never skips the fence, and
an unreachable member is refused with --force too. 'csetctl member undrain
NAME' cancels a removal in progress. A workload whose only candidate is NAME
must be re-registered or unregistered first.`,
		Example: `  csetctl member remove east --wait
  csetctl member remove east --force   # stop what cannot move now`,
		Args:              argNames("NAME"),
		ValidArgsFunction: a.completeArgs(a.memberNames()),
		RunE: func(cmd *cobra.Command, args []string) error {
			if waitTimeout <= 0 {
				return usagef("--wait-timeout %s: must be positive", waitTimeout)
			}
			if _, err := call(cmd.Context(), a, service.RemoveMember, &apiv1.RemoveMemberRequest{Name: args[0], Force: force}); err != nil {
				return err
			}
			return a.memberRemoval(cmd.Context(), args[0], wait, waitTimeout)
		},
	}
	f := cmd.Flags()
	f.BoolVar(&force, "force", false, "stop the workloads that cannot move now instead of waiting for a member that can take them (never skips the fence)")
	f.BoolVar(&wait, "wait", false, "wait until the member is deleted")
	f.DurationVar(&waitTimeout, "wait-timeout", 10*time.Minute, "with --wait, give up after this long (the removal goes on)")
	return cmd
}

// memberRemoval reports a removal: done, or in progress (and with wait, polls until done).
func (a *app) memberRemoval(ctx context.Context, name string, wait bool, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	announced := false
	for {
		r, err := call(ctx, a, service.GetMember, &apiv1.GetRequest{Name: name, Read: &apiv1.ReadOptions{Consistent: true}})
		switch {
		case status.Code(err) == codes.NotFound:
			return a.printDeleted("member", name, "removed")
		case err != nil && ctx.Err() != nil:
			return fmt.Errorf("gave up waiting after --wait-timeout %s: member %s is still being removed; follow it with 'csetctl member show %s' and 'csetctl events --member %s'", timeout, name, name, name)
		case err != nil:
			return err
		}
		m := r.GetMember()
		if !wait {
			how := "moved off it first"
			if m.GetRemoval() == "force" {
				how = "moved off it first, or stopped there if they cannot move now,"
			}
			return a.emitf(deletedJSON{Kind: "member", Name: name, Deleted: false},
				"member %s is being removed (%s): workloads %s are %s under the fence; it is deleted when no cset group runs there\n"+
					"follow it with: csetctl member show %s (or remove with --wait)\n", name, m.GetRemoval(), list(m.GetWorkloads()), how, name)
		}
		if !announced {
			fmt.Fprintf(a.stderr, "member %s is being removed (%s); waiting until no cset group runs there\n", name, m.GetRemoval())
			announced = true
		}
		select {
		case <-ctx.Done():
		case <-time.After(a.pollInterval):
		}
	}
}

// memberAdminCommand builds drain, undrain and disable: SetMemberAdmin.
func (a *app) memberAdminCommand(verb, admin, short string) *cobra.Command {
	return &cobra.Command{
		Use:               verb + " NAME",
		Short:             short,
		Long:              fmt.Sprintf("%s sets the admin state of member NAME to %q.", verb, admin),
		Args:              argNames("NAME"),
		ValidArgsFunction: a.completeArgs(a.memberNames()),
		RunE: func(cmd *cobra.Command, args []string) error {
			r, err := call(cmd.Context(), a, service.SetMemberAdmin, &apiv1.SetMemberAdminRequest{Name: args[0], Admin: admin})
			if err != nil {
				return err
			}
			return a.emitf(toMemberJSON(r.GetMember()), "member %s is now %s\n", r.GetMember().GetName(), r.GetMember().GetAdmin())
		},
	}
}

func (a *app) memberDeclareDownCommand() *cobra.Command {
	cmd := nameCommand(a, "declare-down NAME", "Confirm that an unreachable member is really down, so its workloads fail over", false,
		a.memberNames(), service.DeclareMemberDown, func(_ string, r *apiv1.MemberResponse) error {
			return a.emitf(toMemberJSON(r.GetMember()), "member %s declared down (health %s)\n", r.GetMember().GetName(), r.GetMember().GetHealth())
		})
	cmd.Long = `declare-down tells the masters that member NAME is down: every one of its ECX
servers is powered off or cut off from its clients and storage. Without a
witness this is the only way its workloads fail over. Declaring a member down
that still runs its workloads can bring a workload online twice: check first.`
	return cmd
}

func (a *app) nodeCommand() *cobra.Command {
	var member string
	listCmd := listCommand(a, "List every ECX server of every member with its observed status", service.ListNodes,
		func(r *apiv1.ListNodesResponse) []*apiv1.Node {
			var nodes []*apiv1.Node
			for _, n := range r.GetNodes() {
				if member == "" || n.GetMember() == member {
					nodes = append(nodes, n)
				}
			}
			return nodes
		}, toNodeJSON, []string{"MEMBER", "SERVER", "STATUS", "GROUPS ONLINE", "URL"},
		func(n *apiv1.Node) []string {
			return []string{n.GetMember(), n.GetServer(), n.GetStatus(), list(n.GetGroups()), n.GetUrl()}
		})
	listCmd.Flags().StringVar(&member, "member", "", "only the servers of this member")
	a.completeFlag(listCmd, "member", a.memberNames())
	return groupCommand("node", "ECX servers of all members", listCmd)
}
