package main

import (
	"github.com/spf13/cobra"

	apiv1 "github.com/cset-project/cset/proto/cset/api/v1"
)

func (a *app) faultDomainCommand() *cobra.Command {
	var members []string
	var description string
	create := &cobra.Command{
		Use:   "create NAME [--members M1,M2]",
		Short: "Create a fault domain",
		Args:  argNames("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkName("fault domain", args[0]); err != nil {
				return &usageError{msg: err.Error()}
			}
			if err := checkList("--members: member", members); err != nil {
				return &usageError{msg: err.Error()}
			}
			fd, err := call(cmd.Context(), a, service.CreateFaultDomain, &apiv1.CreateFaultDomainRequest{Name: args[0], Description: description, Members: members})
			if err != nil {
				return err
			}
			return a.emitf(toFaultDomainJSON(fd), "fault domain %s created (members %s)\n", fd.GetName(), orDash(list(fd.GetMembers())))
		},
	}
	create.Flags().StringSliceVar(&members, "members", nil, "members in this fault domain, comma separated")
	create.Flags().StringVar(&description, "description", "", "free text, e.g. 'rack A, room 2'")
	a.completeListFlag(create, "members", a.memberNames())
	return groupCommand("faultdomain", "Fault domains: members that can fail together (a rack, a room, a site)", create,
		listCommand(a, "List the fault domains", service.ListFaultDomains, (*apiv1.ListFaultDomainsResponse).GetFaultDomains,
			toFaultDomainJSON, []string{"NAME", "MEMBERS", "DESCRIPTION"},
			func(fd *apiv1.FaultDomain) []string {
				return []string{fd.GetName(), list(fd.GetMembers()), fd.GetDescription()}
			}),
		deleteCommand(a, "fault domain", "Delete a fault domain", a.faultDomainNames(), service.DeleteFaultDomain))
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func (a *app) availSetCommand() *cobra.Command {
	var soft bool
	create := &cobra.Command{
		Use:   "create NAME [--soft]",
		Short: "Create an availability set (hard spread unless --soft)",
		Long: `create makes an availability set. Its workloads (workload register
--availability-set NAME) are placed in different fault domains: always (hard,
the default: a placement that would share a fault domain is rejected) or
preferably (--soft).`,
		Args: argNames("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkName("availability set", args[0]); err != nil {
				return &usageError{msg: err.Error()}
			}
			s, err := call(cmd.Context(), a, service.CreateAvailabilitySet, &apiv1.CreateAvailabilitySetRequest{Name: args[0], Soft: soft})
			if err != nil {
				return err
			}
			return a.emitf(toAvailSetJSON(s), "availability set %s created (%s)\n", s.GetName(), spread(s.GetHard()))
		},
	}
	create.Flags().BoolVar(&soft, "soft", false, "spread over fault domains when possible instead of always")
	return groupCommand("availset", "Availability sets: workloads spread over fault domains", create,
		listCommand(a, "List the availability sets", service.ListAvailabilitySets, (*apiv1.ListAvailabilitySetsResponse).GetAvailabilitySets,
			toAvailSetJSON, []string{"NAME", "SPREAD", "WORKLOADS"},
			func(s *apiv1.AvailabilitySet) []string {
				return []string{s.GetName(), spread(s.GetHard()), list(s.GetWorkloads())}
			}),
		deleteCommand(a, "availability set", "Delete an availability set", a.availSetNames(), service.DeleteAvailabilitySet))
}

func spread(hard bool) string {
	if hard {
		return "hard"
	}
	return "soft"
}
