package main

// Cheap client-side checks. The server validates everything again; these
// exist so that a typo is reported before a round trip, with a message that
// says how to fix it.

import (
	"fmt"
	"math"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	apiv1 "github.com/cset-project/cset/proto/cset/api/v1"
)

var dnsLabel = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

// checkName reports whether s is a DNS label, the rule for the names of
// members, workloads, fault domains and availability sets.
func checkName(what, s string) error {
	if s == "" {
		return fmt.Errorf("%s name is empty", what)
	}
	if !dnsLabel.MatchString(s) {
		return fmt.Errorf("%s name %q is not a DNS label: use 1-63 lowercase letters, digits and '-', starting and ending with a letter or digit", what, s)
	}
	return nil
}

// checkURL accepts http and https URLs with a host, e.g. http://10.0.0.1:29009.
func checkURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("URL %q: want http://HOST:PORT or https://HOST:PORT, e.g. http://10.0.0.1:29009", s)
	}
	return nil
}

// parseServer parses NAME=URL of member add --server.
func parseServer(s string) (*apiv1.ServerSpec, error) {
	name, u, ok := strings.Cut(s, "=")
	if !ok || name == "" {
		return nil, fmt.Errorf("--server %q: want NAME=URL, e.g. --server east-1=http://10.0.0.1:29009", s)
	}
	if err := checkURL(u); err != nil {
		return nil, fmt.Errorf("--server %s: %w", name, err)
	}
	return &apiv1.ServerSpec{Name: name, Url: u}, nil
}

// checkIP accepts an IPv4 or IPv6 address without zone.
func checkIP(s string) error {
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return fmt.Errorf("%q is not an IP address: want e.g. 10.0.1.10 or 2001:db8::10", s)
	}
	return nil
}

// parseAddress parses MEMBER=IP[,IP...] of workload register --address.
func parseAddress(s string) (string, []string, error) {
	member, rest, ok := strings.Cut(s, "=")
	if !ok || member == "" || rest == "" {
		return "", nil, fmt.Errorf("--address %q: want MEMBER=IP[,IP], e.g. --address east=10.0.1.10", s)
	}
	ips := strings.Split(rest, ",")
	for _, ip := range ips {
		if err := checkIP(ip); err != nil {
			return "", nil, fmt.Errorf("--address %s: %w", member, err)
		}
	}
	return member, ips, nil
}

// parseLabel parses KEY=VALUE of member add --label.
func parseLabel(s string) (string, string, error) {
	k, v, ok := strings.Cut(s, "=")
	if !ok || k == "" {
		return "", "", fmt.Errorf("--label %q: want KEY=VALUE, e.g. --label site=osaka", s)
	}
	return k, v, nil
}

// parseService parses NAME:PORT of workload register --service, NAME being
// the SRV prefix such as _http._tcp.
func parseService(s string) (*apiv1.Service, error) {
	name, p, ok := strings.Cut(s, ":")
	port, err := strconv.ParseUint(p, 10, 16)
	if !ok || name == "" || err != nil || port == 0 {
		return nil, fmt.Errorf("--service %q: want NAME:PORT with a port from 1 to 65535, e.g. --service _http._tcp:80", s)
	}
	if err := checkServiceName(name); err != nil {
		return nil, fmt.Errorf("--service %q: %w", s, err)
	}
	return &apiv1.Service{Name: name, Port: uint32(port)}, nil
}

// checkServiceName accepts an SRV prefix: _service._proto.
func checkServiceName(name string) error {
	if !strings.HasPrefix(name, "_") || !strings.Contains(name, "._") {
		return fmt.Errorf("NAME is the SRV prefix _service._proto, e.g. _http._tcp, not %q", name)
	}
	return nil
}

// seconds converts a duration flag to whole seconds for the API.
func seconds(what string, d time.Duration) (uint32, error) {
	if d < 0 || d%time.Second != 0 || d > time.Duration(math.MaxUint32)*time.Second {
		return 0, fmt.Errorf("%s %s: want a positive whole number of seconds, e.g. 30s or 5m", what, d)
	}
	return uint32(d / time.Second), nil
}

// checkHostPort accepts HOST:PORT with a numeric port.
func checkHostPort(what, s string) error {
	host, port, err := net.SplitHostPort(s)
	if _, perr := strconv.ParseUint(port, 10, 16); err != nil || host == "" || perr != nil {
		return fmt.Errorf("%s %q: want HOST:PORT, e.g. 10.0.0.5:7101", what, s)
	}
	return nil
}

// checkHook accepts an absolute path: hooks run on whichever master leads.
func checkHook(s string) error {
	if !filepath.IsAbs(s) {
		return fmt.Errorf("hook %q: give the absolute path of the executable on every master", s)
	}
	return nil
}

// checkList rejects empty and repeated entries of a name list.
func checkList(what string, names []string) error {
	seen := map[string]bool{}
	for _, n := range names {
		if err := checkName(what, n); err != nil {
			return err
		}
		if seen[n] {
			return fmt.Errorf("%s %q is listed twice", what, n)
		}
		seen[n] = true
	}
	return nil
}

// maxPasswordFile bounds a password file; it should hold a password only.
const maxPasswordFile = 4096

// readPasswordFile reads an ECX password from path: the whole content minus
// one trailing newline. It warns on stderr-worthy permissions through warn.
// Error messages name the file, never its content.
func readPasswordFile(path string, warn func(string)) (string, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return "", fmt.Errorf("reading password file: %w", err)
	}
	if !fi.Mode().IsRegular() && fi.Mode()&os.ModeNamedPipe == 0 {
		return "", fmt.Errorf("password file %s is not a regular file", path)
	}
	if fi.Mode().IsRegular() && fi.Mode().Perm()&0o077 != 0 {
		warn(fmt.Sprintf("warning: password file %s is readable by others (mode %04o); chmod 600 it", path, fi.Mode().Perm()))
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("reading password file: %w", err)
	}
	if len(b) > maxPasswordFile {
		return "", fmt.Errorf("password file %s is larger than %d bytes: it must hold only the password", path, maxPasswordFile)
	}
	pw := strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")
	if pw == "" {
		return "", fmt.Errorf("password file %s is empty", path)
	}
	return pw, nil
}
