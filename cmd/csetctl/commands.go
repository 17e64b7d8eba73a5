package main

// Builders of the commands that differ only in their RPC and their output: a `list`, a command on
// one named object, a `delete`. Each command file describes what is particular to its commands and
// leaves the call and the printing to these.

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	apiv1 "github.com/cset-project/cset/proto/cset/api/v1"
)

// listCommand builds a `list` command: one List RPC with the read options of --consistent,
// whose items are printed by emitList.
func listCommand[Resp, T, J any](a *app, short string, rpc rpcFunc[*apiv1.ListRequest, Resp], items func(Resp) []T,
	toJSON func(T) J, header []string, row func(T) []string,
) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: short,
		Args:  argNames(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			r, err := call(cmd.Context(), a, rpc, &apiv1.ListRequest{Read: a.readOpts()})
			if err != nil {
				return err
			}
			return emitList(a, items(r), toJSON, header, row)
		},
	}
}

// nameCommand builds a command on one named object, such as `member show NAME` or `operation
// retry ID`: use is the verb and the argument's name. It sends rpc a GetRequest for the argument,
// carrying the read options of --consistent when read (writes carry none), and prints the answer
// with out, which also gets the argument. complete lists the names the argument can take.
func nameCommand[Resp any](a *app, use, short string, read bool, complete names, rpc rpcFunc[*apiv1.GetRequest, Resp], out func(string, Resp) error) *cobra.Command {
	_, arg, _ := strings.Cut(use, " ")
	return &cobra.Command{
		Use:               use,
		Short:             short,
		Args:              argNames(arg),
		ValidArgsFunction: a.completeArgs(complete),
		RunE: func(cmd *cobra.Command, args []string) error {
			req := &apiv1.GetRequest{Name: args[0]}
			if read {
				req.Read = a.readOpts()
			}
			r, err := call(cmd.Context(), a, rpc, req)
			if err != nil {
				return err
			}
			return out(args[0], r)
		},
	}
}

// deleteCommand builds `delete NAME` for kind with rpc.
func deleteCommand(a *app, kind, short string, complete names, rpc rpcFunc[*apiv1.GetRequest, *apiv1.Empty]) *cobra.Command {
	return nameCommand(a, "delete NAME", short, false, complete, rpc, func(name string, _ *apiv1.Empty) error {
		return a.printDeleted(kind, name, "deleted")
	})
}

// printDeleted confirms a remove, delete or unregister.
func (a *app) printDeleted(kind, name, verb string) error {
	return a.emitf(deletedJSON{Kind: strings.ReplaceAll(kind, " ", "_"), Name: name, Deleted: true}, "%s %s %s\n", kind, name, verb)
}

// groupRunE makes a command group print its help when called alone and
// reject an unknown subcommand as a usage error.
func groupRunE(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return cmd.Help()
	}
	msg := fmt.Sprintf("unknown command %q for %q", args[0], cmd.CommandPath())
	if cmd.SuggestionsMinimumDistance <= 0 {
		cmd.SuggestionsMinimumDistance = 2
	}
	if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
		msg += fmt.Sprintf("; did you mean %q?", s[0])
	}
	return &usageError{msg: msg}
}

// groupCommand builds a command group such as `member`, which only holds subs: called alone it
// prints its help, and an unknown subcommand is a usage error (groupRunE).
func groupCommand(use, short string, subs ...*cobra.Command) *cobra.Command {
	cmd := &cobra.Command{Use: use, Short: short, Args: cobra.ArbitraryArgs, RunE: groupRunE}
	cmd.AddCommand(subs...)
	return cmd
}

// argNames returns a PositionalArgs that wants exactly the named arguments,
// the last optional ones marked with a leading '['.
func argNames(names ...string) cobra.PositionalArgs {
	required := 0
	for _, n := range names {
		if !strings.HasPrefix(n, "[") {
			required++
		}
	}
	return func(_ *cobra.Command, args []string) error {
		if len(args) < required {
			return usagef("missing %s", strings.Join(names[len(args):required], " "))
		}
		if len(args) > len(names) {
			return usagef("unexpected argument %q", args[len(names)])
		}
		return nil
	}
}
