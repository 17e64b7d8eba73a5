package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/cset-project/cset/pki"
)

const tlsUsage = `Usage: csetd tls init -dir DIR -masters m1,m2,m3 [-hosts HOST,ID=HOST,...] [-clients admin,...]

Creates a private CA (ca.pem, ca-key.pem) and, signed by it, one certificate per master
(ID.pem, ID-key.pem: server and client use, names ID, localhost, 127.0.0.1, ::1 and the
-hosts) and one per API client (client-NAME.pem, client-NAME-key.pem). An existing CA in DIR
signs the new certificates instead, so masters and clients can be added later. No file is
ever overwritten; keys are written 0600. See docs/security.md.

Flags:
`

func splitList(s string) []string {
	var out []string
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}

func runTLS(_ context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "init" {
		fmt.Fprint(stderr, tlsUsage)
		return usageError{fmt.Errorf("csetd tls has one command: init")}
	}
	fs := flag.NewFlagSet("csetd tls init", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("dir", "", "directory for the CA, certificates and keys (created 0700)")
	masters := fs.String("masters", "", "master ids, comma separated (each gets ID.pem and ID-key.pem)")
	hosts := fs.String("hosts", "", "extra host names or IPs in the master certificates: HOST for all, ID=HOST for one; comma separated")
	clients := fs.String("clients", "", "API client names, comma separated (each gets client-NAME.pem and client-NAME-key.pem)")
	valid := fs.Duration("valid", 0, "validity of the master and client certificates (default two years; the CA gets ten)")
	fs.Usage = func() { fmt.Fprint(fs.Output(), tlsUsage); fs.PrintDefaults() }
	if err := fs.Parse(args[1:]); err != nil {
		if err == flag.ErrHelp {
			return err
		}
		return usageError{err}
	}
	if *dir == "" || *masters == "" && *clients == "" {
		return usageError{fmt.Errorf("tls init needs -dir and -masters and/or -clients")}
	}
	files, err := pki.Init(pki.InitOptions{Dir: *dir, Masters: splitList(*masters), Hosts: splitList(*hosts), Clients: splitList(*clients), Valid: *valid})
	for _, f := range files {
		fmt.Fprintf(stdout, "wrote %s\n", f)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "\nStart each master with -tls-ca %[1]s/ca.pem -tls-cert %[1]s/ID.pem -tls-key %[1]s/ID-key.pem\n(copy only its own key to each host) and point csetctl at the CA with --tls-ca or CSET_TLS_CA.\nKeep ca-key.pem offline: whoever holds it can make a master.\n", *dir)
	return nil
}
