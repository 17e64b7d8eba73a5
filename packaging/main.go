// Command packaging builds the cset .deb and .rpm packages with nfpm (`make package`): csetd
// and csetctl, the systemd units of the agent, the witness and the guard, a default agent
// configuration, csetctl's man pages and shell completions, and the documentation.
//
//	go run . -version 0.1.0 -arch amd64 -bin ../bin/pkg/linux-amd64 -docs ../bin/pkg/docs -out ../dist
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/goreleaser/nfpm/v2"
	_ "github.com/goreleaser/nfpm/v2/deb"
	"github.com/goreleaser/nfpm/v2/files"
	_ "github.com/goreleaser/nfpm/v2/rpm"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintf(os.Stderr, "packaging: %v\n", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("packaging", flag.ContinueOnError)
	version := fs.String("version", "", "package version, e.g. 0.1.0 (required)")
	arch := fs.String("arch", "amd64", "amd64 or arm64")
	bin := fs.String("bin", "", "directory holding the linux csetd and csetctl binaries of -arch (required)")
	docs := fs.String("docs", "", "directory holding man/ and completions/ from 'csetctl gen-docs' (required)")
	root := fs.String("root", "..", "the repository root (units, configuration, docs)")
	out := fs.String("out", "dist", "directory for the packages")
	formats := fs.String("formats", "deb,rpm", "package formats")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *version == "" || *bin == "" || *docs == "" {
		return fmt.Errorf("-version, -bin and -docs are required")
	}
	contents, err := packageContents(*root, *bin, *docs)
	if err != nil {
		return err
	}
	info := &nfpm.Info{
		Name: "cset", Arch: *arch, Platform: "linux", Version: *version,
		Maintainer:  "cset maintainers <maintainers@cset-project.invalid>",
		Description: "cset: a cluster-set control plane for NEC EXPRESSCLUSTER X (masters, witness, member guard, CLI)",
		Homepage:    "https://github.com/cset-project/cset",
		License:     "Apache-2.0",
		Section:     "admin",
		Priority:    "optional",
		Overridables: nfpm.Overridables{
			Contents: contents,
			Scripts: nfpm.Scripts{
				PostInstall: filepath.Join(*root, "packaging/scripts/postinstall.sh"),
				PreRemove:   filepath.Join(*root, "packaging/scripts/preremove.sh"),
			},
		},
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	for _, format := range splitComma(*formats) {
		pkgr, err := nfpm.Get(format)
		if err != nil {
			return err
		}
		cfg := nfpm.WithDefaults(info)
		if err := cfg.Validate(); err != nil {
			return fmt.Errorf("%s: %w", format, err)
		}
		name := filepath.Join(*out, pkgr.ConventionalFileName(cfg))
		f, err := os.Create(name)
		if err != nil {
			return err
		}
		if err := pkgr.Package(nfpm.WithDefaults(info), f); err != nil {
			f.Close()
			return fmt.Errorf("%s: %w", format, err)
		}
		if err := f.Close(); err != nil {
			return err
		}
		fmt.Println(name)
	}
	return nil
}

func splitComma(s string) []string {
	var out []string
	start := 0
	for i := 0; i <= len(s); i++ {
		if i == len(s) || s[i] == ',' {
			if i > start {
				out = append(out, s[start:i])
			}
			start = i + 1
		}
	}
	return out
}

// packageContents lists the files of the package.
func packageContents(root, bin, docs string) (files.Contents, error) {
	c := files.Contents{
		{Source: filepath.Join(bin, "csetd"), Destination: "/usr/bin/csetd", FileInfo: &files.ContentFileInfo{Mode: 0o755}},
		{Source: filepath.Join(bin, "csetctl"), Destination: "/usr/bin/csetctl", FileInfo: &files.ContentFileInfo{Mode: 0o755}},
		{Source: filepath.Join(root, "packaging/systemd/cset-agent.service"), Destination: "/lib/systemd/system/cset-agent.service"},
		{Source: filepath.Join(root, "packaging/systemd/cset-witness.service"), Destination: "/lib/systemd/system/cset-witness.service"},
		{Source: filepath.Join(root, "packaging/systemd/cset-guard.service"), Destination: "/lib/systemd/system/cset-guard.service"},
		{Source: filepath.Join(root, "packaging/etc/agent.yaml"), Destination: "/etc/cset/agent.yaml", Type: files.TypeConfigNoReplace, FileInfo: &files.ContentFileInfo{Mode: 0o640}},
		{Source: filepath.Join(root, "packaging/etc/default/cset-witness"), Destination: "/etc/default/cset-witness", Type: files.TypeConfigNoReplace},
		{Source: filepath.Join(root, "packaging/etc/default/cset-guard"), Destination: "/etc/default/cset-guard", Type: files.TypeConfigNoReplace},
		{Destination: "/etc/cset", Type: files.TypeDir, FileInfo: &files.ContentFileInfo{Mode: 0o750}},
		{Source: filepath.Join(docs, "completions/csetctl.bash"), Destination: "/usr/share/bash-completion/completions/csetctl"},
		{Source: filepath.Join(docs, "completions/_csetctl"), Destination: "/usr/share/zsh/vendor-completions/_csetctl"},
		{Source: filepath.Join(docs, "completions/csetctl.fish"), Destination: "/usr/share/fish/vendor_completions.d/csetctl.fish"},
	}
	pages, err := filepath.Glob(filepath.Join(docs, "man", "*.1"))
	if err != nil || len(pages) == 0 {
		return nil, fmt.Errorf("no man pages in %s/man: run 'csetctl gen-docs' first", docs)
	}
	sort.Strings(pages)
	for _, p := range pages {
		c = append(c, &files.Content{Source: p, Destination: "/usr/share/man/man1/" + filepath.Base(p)})
	}
	mds, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	if err != nil {
		return nil, err
	}
	for _, d := range append(mds, filepath.Join(root, "README.md")) {
		c = append(c, &files.Content{Source: d, Destination: "/usr/share/doc/cset/" + filepath.Base(d)})
	}
	for _, f := range c {
		if f.Source == "" {
			continue
		}
		if _, err := os.Stat(f.Source); err != nil {
			return nil, fmt.Errorf("package file: %w", err)
		}
	}
	return c, nil
}
