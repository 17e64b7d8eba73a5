package main

import (
	"fmt"

	"github.com/spf13/cobra"

	apiv1 "github.com/cset-project/cset/proto/cset/api/v1"
)

// tokenJSON is one API token as `token create` and `token list` print it. Secret is set only
// by create: the masters keep a hash of it and can never show it again.
type tokenJSON struct {
	Name      string `json:"name"`
	Role      string `json:"role"`
	Secret    string `json:"secret,omitempty"`
	Created   string `json:"created"`
	CreatedBy string `json:"created_by"`
}

var roles = map[string]bool{"read": true, "operate": true, "admin": true, "guard": true}

func (a *app) tokenCommand() *cobra.Command {
	var role string
	create := &cobra.Command{
		Use:   "create NAME --role read|operate|admin|guard",
		Short: "Create a token; its secret is printed once and never again",
		Long: `create makes a token named NAME with a role: read (status, lists, events, place),
operate (also move, start/stop, drain/undrain, declare-down) or admin (everything).
The secret is printed once on stdout; the masters keep only its SHA-256 hash.
Hand it over through a file (csetctl --token-file F, or CSET_TOKEN): a secret on a
command line is visible to other users of the machine.`,
		Args: argNames("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkName("token", args[0]); err != nil {
				return &usageError{msg: err.Error()}
			}
			if !roles[role] {
				return usagef("--role %q: use read, operate, admin or guard", role)
			}
			r, err := call(cmd.Context(), a, service.CreateToken, &apiv1.CreateTokenRequest{Name: args[0], Role: role})
			if err != nil {
				return err
			}
			return a.emit(tokenJSON{Name: r.GetName(), Role: r.GetRole(), Secret: r.GetSecret(), Created: timeString(r.GetCreatedUnixNano())}, func() error {
				// Only the secret goes to stdout, so that '> FILE' stores it alone.
				fmt.Fprintf(a.stderr, "token %s created with role %s; its secret follows and cannot be shown again:\n", r.GetName(), r.GetRole())
				fmt.Fprintln(a.stdout, r.GetSecret())
				return nil
			})
		},
	}
	create.Flags().StringVar(&role, "role", "", "read, operate, admin or guard (guard: only the member guard's heartbeats; required)")
	return groupCommand("token", "API tokens with roles read, operate, admin or guard (masters started with -auth)", create,
		listCommand(a, "List the tokens (names and roles; secrets are never shown)", service.ListTokens, (*apiv1.ListTokensResponse).GetTokens,
			func(t *apiv1.Token) tokenJSON {
				return tokenJSON{Name: t.GetName(), Role: t.GetRole(), Created: timeString(t.GetCreatedUnixNano()), CreatedBy: t.GetCreatedBy()}
			},
			[]string{"NAME", "ROLE", "CREATED", "CREATED BY"},
			func(t *apiv1.Token) []string {
				return []string{t.GetName(), t.GetRole(), shortTime(t.GetCreatedUnixNano()), t.GetCreatedBy()}
			}),
		&cobra.Command{
			Use:               "revoke NAME",
			Short:             "Revoke a token at once on every master (the last admin token cannot be revoked)",
			Args:              argNames("NAME"),
			ValidArgsFunction: a.completeArgs(a.tokenNames()),
			RunE: func(cmd *cobra.Command, args []string) error {
				if _, err := call(cmd.Context(), a, service.RevokeToken, &apiv1.RevokeTokenRequest{Name: args[0]}); err != nil {
					return err
				}
				return a.printDeleted("token", args[0], "revoked")
			},
		})
}
