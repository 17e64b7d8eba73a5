package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"
	"google.golang.org/grpc"

	apiv1 "github.com/cset-project/cset/proto/cset/api/v1"
)

func (a *app) faultDomainCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "faultdomain",
		Short: "Fault domains: members that can fail together (a rack, a room, a site)",
		Args:  cobra.ArbitraryArgs,
		RunE:  groupRunE,
	}
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
			c, err := a.api()
			if err != nil {
				return err
			}
			ctx, cancel := a.rpcCtx(cmd.Context())
			defer cancel()
			fd, err := c.CreateFaultDomain(ctx, &apiv1.CreateFaultDomainRequest{Name: args[0], Description: description, Members: members})
			if err != nil {
				return err
			}
			if a.jsonOutput() {
				return printJSON(a.stdout, toFaultDomainJSON(fd))
			}
			fmt.Fprintf(a.stdout, "fault domain %s created (members %s)\n", fd.GetName(), orDash(list(fd.GetMembers())))
			return nil
		},
	}
	create.Flags().StringSliceVar(&members, "members", nil, "members in this fault domain, comma separated")
	create.Flags().StringVar(&description, "description", "", "free text, e.g. 'rack A, room 2'")
	cmd.AddCommand(create, &cobra.Command{
		Use:   "list",
		Short: "List the fault domains",
		Args:  argNames(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := a.api()
			if err != nil {
				return err
			}
			ctx, cancel := a.rpcCtx(cmd.Context())
			defer cancel()
			r, err := c.ListFaultDomains(ctx, &apiv1.ListRequest{Read: a.readOpts()})
			if err != nil {
				return err
			}
			if a.jsonOutput() {
				out := make([]faultDomainJSON, 0, len(r.GetFaultDomains()))
				for _, fd := range r.GetFaultDomains() {
					out = append(out, toFaultDomainJSON(fd))
				}
				return printJSON(a.stdout, out)
			}
			t := newTable(a.stdout, "NAME", "MEMBERS", "DESCRIPTION")
			for _, fd := range r.GetFaultDomains() {
				t.row(fd.GetName(), list(fd.GetMembers()), fd.GetDescription())
			}
			return t.flush()
		},
	}, a.deleteCommand("fault domain", "Delete a fault domain", func(c apiv1.ClusterSetServiceClient) deleteFunc {
		return c.DeleteFaultDomain
	}))
	return cmd
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func (a *app) availSetCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "availset",
		Short: "Availability sets: workloads spread over fault domains",
		Args:  cobra.ArbitraryArgs,
		RunE:  groupRunE,
	}
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
			c, err := a.api()
			if err != nil {
				return err
			}
			ctx, cancel := a.rpcCtx(cmd.Context())
			defer cancel()
			s, err := c.CreateAvailabilitySet(ctx, &apiv1.CreateAvailabilitySetRequest{Name: args[0], Soft: soft})
			if err != nil {
				return err
			}
			if a.jsonOutput() {
				return printJSON(a.stdout, toAvailSetJSON(s))
			}
			fmt.Fprintf(a.stdout, "availability set %s created (%s)\n", s.GetName(), spread(s.GetHard()))
			return nil
		},
	}
	create.Flags().BoolVar(&soft, "soft", false, "spread over fault domains when possible instead of always")
	cmd.AddCommand(create, &cobra.Command{
		Use:   "list",
		Short: "List the availability sets",
		Args:  argNames(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := a.api()
			if err != nil {
				return err
			}
			ctx, cancel := a.rpcCtx(cmd.Context())
			defer cancel()
			r, err := c.ListAvailabilitySets(ctx, &apiv1.ListRequest{Read: a.readOpts()})
			if err != nil {
				return err
			}
			if a.jsonOutput() {
				out := make([]availSetJSON, 0, len(r.GetAvailabilitySets()))
				for _, s := range r.GetAvailabilitySets() {
					out = append(out, toAvailSetJSON(s))
				}
				return printJSON(a.stdout, out)
			}
			t := newTable(a.stdout, "NAME", "SPREAD", "WORKLOADS")
			for _, s := range r.GetAvailabilitySets() {
				t.row(s.GetName(), spread(s.GetHard()), list(s.GetWorkloads()))
			}
			return t.flush()
		},
	}, a.deleteCommand("availability set", "Delete an availability set", func(c apiv1.ClusterSetServiceClient) deleteFunc {
		return c.DeleteAvailabilitySet
	}))
	return cmd
}

func spread(hard bool) string {
	if hard {
		return "hard"
	}
	return "soft"
}

// deleteFunc is an RPC that deletes an object by name.
type deleteFunc func(context.Context, *apiv1.GetRequest, ...grpc.CallOption) (*apiv1.Empty, error)

// deleteCommand builds "delete NAME" for kind with the RPC pick chooses.
func (a *app) deleteCommand(kind, short string, pick func(apiv1.ClusterSetServiceClient) deleteFunc) *cobra.Command {
	return &cobra.Command{
		Use:   "delete NAME",
		Short: short,
		Args:  argNames("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.api()
			if err != nil {
				return err
			}
			ctx, cancel := a.rpcCtx(cmd.Context())
			defer cancel()
			if _, err := pick(c)(ctx, &apiv1.GetRequest{Name: args[0]}); err != nil {
				return err
			}
			return a.printDeleted(kind, args[0], "deleted")
		},
	}
}
