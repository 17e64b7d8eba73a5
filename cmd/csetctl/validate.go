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
	"unicode/utf8"

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
		return fmt.Errorf("%s name %s is not a DNS label: use 1-63 lowercase letters, digits and '-', starting and ending with a letter or digit", what, quote(s))
	}
	return nil
}

// quote quotes s for an error message, cut to its first 64 bytes (with its length) when it is
// longer: a rejected value is never printed in full.
func quote(s string) string {
	const keep = 64
	if len(s) <= keep {
		return strconv.Quote(s)
	}
	cut := keep
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return fmt.Sprintf("%s... (%d bytes)", strconv.Quote(s[:cut]), len(s))
}

// maxURL is the masters' limit on a server URL (docs/cli.md, Limits).
const maxURL = 2048

// checkURL accepts http and https URLs with a host, e.g. http://10.0.0.1:29009, without a user
// name or password in them: the masters store URLs as they are and show them to every read
// token, while a password given with --password-file (or password_file) is write-only.
func checkURL(s string) error {
	if len(s) > maxURL {
		return fmt.Errorf("URL %s is %d bytes long: at most %d are accepted", quote(s), len(s), maxURL)
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("URL %s: want http://HOST:PORT or https://HOST:PORT, e.g. http://10.0.0.1:29009", quote(withoutUserinfo(s)))
	}
	if u.User != nil {
		u.User = nil
		return fmt.Errorf("URL %s has a user name or password in it (USER:PASSWORD@): give the user with --user and the password with --password-file (in an apply file: user and password_file), never in the URL", quote(u.String()))
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

// withoutUserinfo drops what may be a user name and password from a URL that does not parse.
func withoutUserinfo(s string) string {
	scheme, rest, ok := strings.Cut(s, "://")
	end := strings.IndexAny(rest, "/?#")
	if end < 0 {
		end = len(rest)
	}
	if at := strings.LastIndex(rest[:end], "@"); ok && at >= 0 {
		return scheme + "://" + rest[at+1:]
	}
	return s
}

// checkIP accepts an IPv4 or IPv6 address that DNS may hand out as a workload's: not the
// unspecified address, broadcast, multicast or link-local, and without a zone.
func checkIP(s string) error {
	a, err := netip.ParseAddr(s)
	if err != nil {
		return fmt.Errorf("%s is not an IP address: want e.g. 10.0.1.10 or 2001:db8::10", quote(s))
	}
	why := ""
	switch u := a.Unmap(); {
	case a.Zone() != "":
		why = "has a zone, which means nothing off this host"
	case u.IsUnspecified():
		why = "is the unspecified address"
	case u == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		why = "is the broadcast address"
	case u.IsMulticast():
		why = "is a multicast address"
	case u.IsLinkLocalUnicast():
		why = "is link-local: valid on one network link only"
	}
	if why != "" {
		return fmt.Errorf("%s %s; give the group's floating or virtual IP, e.g. 10.0.1.10 or 2001:db8::10", quote(s), why)
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

// maxTTL is the masters' limit on the DNS TTLs (docs/cli.md, Limits).
const maxTTL = 24 * time.Hour

// ttlSeconds converts a TTL to whole seconds for the API: at most a day.
func ttlSeconds(what string, d time.Duration) (uint32, error) {
	if d > maxTTL {
		return 0, fmt.Errorf("%s %s: at most %s (one day)", what, d, maxTTL)
	}
	return seconds(what, d)
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
		return fmt.Errorf("hook %s: give the absolute path of the executable on every master", quote(s))
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
			return fmt.Errorf("%s %s is listed twice", what, quote(n))
		}
		seen[n] = true
	}
	return nil
}

// maxPasswordFile bounds a password file; it should hold a password only. maxPassword is the
// masters' limit on the password itself (docs/cli.md, Limits).
const (
	maxPasswordFile = 4096
	maxPassword     = 1024
)

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
	if len(pw) > maxPassword {
		return "", fmt.Errorf("the password in %s is %d bytes long: the masters accept at most %d", path, len(pw), maxPassword)
	}
	return pw, nil
}
