package main

// Shell completion of the names the masters know. `csetctl completion SHELL` (cobra's) prints a
// script that, at each Tab, runs csetctl's hidden __complete command with the command line typed
// so far; for an argument or flag that names a member, workload, operation, fault domain,
// availability set or token, csetctl lists those names from the masters. A completion is a
// convenience: when the masters cannot be asked or do not answer within a short deadline, it
// offers nothing and says nothing, rather than an error in the middle of the user's line.

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	apiv1 "github.com/cset-project/cset/proto/cset/api/v1"
)

// completionTimeout bounds the listing behind one completion (--timeout too, if shorter): the
// shell waits for it at every Tab, so a master that does not answer must cost little.
const completionTimeout = 2 * time.Second

// choice is one name a completion offers, with a few words shown next to it by the shells that
// show descriptions.
type choice struct{ name, desc string }

// names lists the choices for an argument or a flag.
type names func(context.Context) ([]choice, error)

// namesOf builds names from a List RPC: item gives the name and description of each item.
func namesOf[Resp, T any](a *app, rpc rpcFunc[*apiv1.ListRequest, Resp], items func(Resp) []T, item func(T) choice) names {
	return func(ctx context.Context) ([]choice, error) {
		r, err := call(ctx, a, rpc, &apiv1.ListRequest{Read: a.readOpts()})
		if err != nil {
			return nil, err
		}
		out := make([]choice, 0, len(items(r)))
		for _, it := range items(r) {
			out = append(out, item(it))
		}
		return out, nil
	}
}

func (a *app) memberNames() names {
	return namesOf(a, service.ListMembers, (*apiv1.ListMembersResponse).GetMembers, func(m *apiv1.Member) choice {
		return choice{m.GetName(), m.GetAdmin() + ", " + m.GetHealth()}
	})
}

func (a *app) workloadNames() names {
	return namesOf(a, service.ListWorkloads, (*apiv1.ListWorkloadsResponse).GetWorkloads, func(w *apiv1.Workload) choice {
		return choice{w.GetName(), w.GetDesired() + ", " + orDash(joinPath(w.GetMember(), w.GetServer()))}
	})
}

func (a *app) operationNames() names {
	return namesOf(a, service.ListOperations, (*apiv1.ListOperationsResponse).GetOperations, func(op *apiv1.Operation) choice {
		return choice{op.GetId(), op.GetReason() + " " + op.GetWorkload() + ", " + op.GetPhase()}
	})
}

func (a *app) faultDomainNames() names {
	return namesOf(a, service.ListFaultDomains, (*apiv1.ListFaultDomainsResponse).GetFaultDomains, func(fd *apiv1.FaultDomain) choice {
		return choice{fd.GetName(), fd.GetDescription()}
	})
}

func (a *app) availSetNames() names {
	return namesOf(a, service.ListAvailabilitySets, (*apiv1.ListAvailabilitySetsResponse).GetAvailabilitySets, func(s *apiv1.AvailabilitySet) choice {
		return choice{s.GetName(), spread(s.GetHard())}
	})
}

func (a *app) tokenNames() names {
	return namesOf(a, service.ListTokens, (*apiv1.ListTokensResponse).GetTokens, func(t *apiv1.Token) choice {
		return choice{t.GetName(), t.GetRole()}
	})
}

// targetNames lists the targets of `workload move --to`: each member, and each of its servers as
// MEMBER/SERVER, from one ListNodes.
func (a *app) targetNames() names {
	nodes := namesOf(a, service.ListNodes, (*apiv1.ListNodesResponse).GetNodes, func(n *apiv1.Node) choice {
		return choice{n.GetMember() + "/" + n.GetServer(), n.GetStatus()}
	})
	return func(ctx context.Context) ([]choice, error) {
		servers, err := nodes(ctx)
		if err != nil {
			return nil, err
		}
		var out []choice
		for _, s := range servers {
			member, _, _ := strings.Cut(s.name, "/")
			if !slices.ContainsFunc(out, func(c choice) bool { return c.name == member }) {
				out = append(out, choice{member, "member"})
			}
		}
		return append(out, servers...), nil
	}
}

// suggest returns the choices of list that start with prefix, or none when the command line's
// global flags are wrong or the masters do not answer in time. The globals are checked here
// because a completion request skips checkGlobals (see there): only now are the flags of the
// line being completed parsed.
func (a *app) suggest(cmd *cobra.Command, prefix string, list names) []choice {
	if a.checkGlobals(cmd, nil) != nil {
		return nil
	}
	// cobra gives the command being completed no context of its own; the root has the
	// invocation's, which an interrupt cancels.
	ctx := cmd.Root().Context()
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, cancel := context.WithTimeout(ctx, a.completeTimeout)
	defer cancel()
	all, err := list(ctx)
	if err != nil {
		return nil
	}
	var out []choice
	for _, c := range all {
		// A name a shell cannot take back as typed (a space, a control character) is left out
		// rather than offered escaped, which would name nothing.
		if strings.HasPrefix(c.name, prefix) && c.name != "" && !strings.ContainsRune(c.name, ' ') && termSafe(c.name) == c.name {
			out = append(out, c)
		}
	}
	return out
}

// completions turns choices into cobra's form, each name prefixed by before.
func completions(before string, cs []choice) []cobra.Completion {
	out := make([]cobra.Completion, 0, len(cs))
	for _, c := range cs {
		out = append(out, cobra.CompletionWithDesc(before+c.name, termSafe(c.desc)))
	}
	return out
}

// completeArgs completes the first positional argument with list; later ones get nothing, and
// never file names.
func (a *app) completeArgs(list names) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		if len(args) > 0 {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		return completions("", a.suggest(cmd, toComplete, list)), cobra.ShellCompDirectiveNoFileComp
	}
}

// completeFlag completes the value of flag of cmd with list.
func (a *app) completeFlag(cmd *cobra.Command, flag string, list names) {
	mustRegister(cmd, flag, func(cmd *cobra.Command, _ []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		return completions("", a.suggest(cmd, toComplete, list)), cobra.ShellCompDirectiveNoFileComp
	})
}

// completeListFlag completes the last name of a comma-separated flag value such as
// --candidates east,we, offering the names not listed yet. No space follows, so that another
// ",NAME" can.
func (a *app) completeListFlag(cmd *cobra.Command, flag string, list names) {
	mustRegister(cmd, flag, func(cmd *cobra.Command, _ []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		before, last := "", toComplete
		if i := strings.LastIndexByte(toComplete, ','); i >= 0 {
			before, last = toComplete[:i+1], toComplete[i+1:]
		}
		given := strings.Split(before, ",")
		cs := slices.DeleteFunc(a.suggest(cmd, last, list), func(c choice) bool { return slices.Contains(given, c.name) })
		return completions(before, cs), cobra.ShellCompDirectiveNoFileComp | cobra.ShellCompDirectiveNoSpace
	})
}

// mustRegister registers fn for flag of cmd. It fails only for a flag cmd does not have, or one
// registered twice: a mistake in this program that every test building the tree shows.
func mustRegister(cmd *cobra.Command, flag string, fn cobra.CompletionFunc) {
	if err := cmd.RegisterFlagCompletionFunc(flag, fn); err != nil {
		panic(err)
	}
}
