package main

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// genDocsCommand is the hidden `csetctl gen-docs --man DIR --completions DIR` that packaging
// runs: a man page per command (roff, section 1) from the command tree, and the bash, zsh
// and fish completions.
func (a *app) genDocsCommand() *cobra.Command {
	var manDir, compDir string
	cmd := &cobra.Command{
		Use:    "gen-docs --man DIR --completions DIR",
		Short:  "Write the man pages and shell completions (for packages)",
		Hidden: true,
		Args:   argNames(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			root := cmd.Root()
			if manDir != "" {
				if err := writeManPages(root, manDir); err != nil {
					return err
				}
			}
			if compDir != "" {
				if err := os.MkdirAll(compDir, 0o755); err != nil {
					return err
				}
				for name, gen := range map[string]func(string) error{
					"csetctl.bash": func(f string) error { return root.GenBashCompletionFileV2(f, true) },
					"_csetctl":     root.GenZshCompletionFile,
					"csetctl.fish": func(f string) error { return root.GenFishCompletionFile(f, true) },
				} {
					if err := gen(filepath.Join(compDir, name)); err != nil {
						return err
					}
				}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&manDir, "man", "", "directory for the man pages (csetctl.1, csetctl-workload-move.1, ...)")
	cmd.Flags().StringVar(&compDir, "completions", "", "directory for the shell completions")
	return cmd
}

// writeManPages writes one page per visible command.
func writeManPages(root *cobra.Command, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	var walk func(c *cobra.Command) error
	walk = func(c *cobra.Command) error {
		if c.Hidden || (!c.IsAvailableCommand() && c != root) {
			return nil
		}
		name := strings.ReplaceAll(c.CommandPath(), " ", "-")
		if err := os.WriteFile(filepath.Join(dir, name+".1"), []byte(manPage(c)), 0o644); err != nil {
			return err
		}
		for _, sub := range c.Commands() {
			if err := walk(sub); err != nil {
				return err
			}
		}
		return nil
	}
	return walk(root)
}

// roff escapes text for a man page: backslashes, and a leading dot or quote.
func roff(s string) string {
	s = strings.ReplaceAll(s, `\`, `\e`)
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, ".") || strings.HasPrefix(l, "'") {
			l = `\&` + l
		}
		out = append(out, l)
	}
	return strings.Join(out, "\n")
}

func manPage(c *cobra.Command) string {
	var b strings.Builder
	title := strings.ToUpper(strings.ReplaceAll(c.CommandPath(), " ", "-"))
	fmt.Fprintf(&b, ".TH %s 1 \"\" \"cset %s\" \"cset manual\"\n", title, version)
	fmt.Fprintf(&b, ".SH NAME\n%s \\- %s\n", roff(c.CommandPath()), roff(c.Short))
	fmt.Fprintf(&b, ".SH SYNOPSIS\n.B %s\n", roff(c.UseLine()))
	desc := c.Long
	if desc == "" {
		desc = c.Short
	}
	fmt.Fprintf(&b, ".SH DESCRIPTION\n%s\n", roff(desc))
	flags := func(title string, fs *pflag.FlagSet) {
		var lines []string
		fs.VisitAll(func(f *pflag.Flag) {
			if f.Hidden {
				return
			}
			name := "\\-\\-" + f.Name
			if f.Shorthand != "" {
				name = "\\-" + f.Shorthand + ", " + name
			}
			lines = append(lines, fmt.Sprintf(".TP\n.B %s\n%s", name, roff(f.Usage)))
		})
		if len(lines) > 0 {
			sort.Strings(lines)
			fmt.Fprintf(&b, ".SH %s\n%s\n", title, strings.Join(lines, "\n"))
		}
	}
	flags("OPTIONS", c.NonInheritedFlags())
	flags("GLOBAL OPTIONS", c.InheritedFlags())
	if c.Example != "" {
		fmt.Fprintf(&b, ".SH EXAMPLES\n.nf\n%s\n.fi\n", roff(c.Example))
	}
	var see []string
	if c.HasParent() {
		see = append(see, strings.ReplaceAll(c.Parent().CommandPath(), " ", "-")+"(1)")
	}
	for _, sub := range c.Commands() {
		if sub.IsAvailableCommand() {
			see = append(see, strings.ReplaceAll(sub.CommandPath(), " ", "-")+"(1)")
		}
	}
	if len(see) > 0 {
		fmt.Fprintf(&b, ".SH SEE ALSO\n%s\n", strings.Join(see, ", "))
	}
	return b.String()
}
