package server

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	apiv1 "github.com/cset-project/cset/proto/cset/api/v1"
	fsmv1 "github.com/cset-project/cset/proto/cset/fsm/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// Limits on what the API accepts, so that no request can bloat the replicated state, the Raft
// log or the memory of the masters. docs/cli.md, "Limits", lists them; keep it in step.
const (
	// maxRequestBytes bounds an encoded request; maxApplyBytes an Apply request (the same
	// bound as csetctl's for a declaration file).
	maxRequestBytes = 1 << 20
	maxApplyBytes   = 16 << 20
	// maxRecvBytes is the gRPC server's bound on one received message: gRPC decodes a message
	// before any interceptor runs, so this is what an unauthenticated caller can make a master
	// hold per call. An Apply request at its limit fits, with room for its framing.
	maxRecvBytes = maxApplyBytes + 1<<20
	// defaultMaxBytes bounds a string field that fieldMaxBytes does not name: names, zones,
	// addresses, user names and ids are all shorter (a DNS name has at most 253 characters).
	defaultMaxBytes = 255
	// defaultMaxItems bounds a list or map field that fieldMaxItems does not name.
	defaultMaxItems = 1000
	// maxTTLSeconds bounds the DNS TTLs (positive and negative answers): one day.
	maxTTLSeconds = 86400
	// maxUnits bounds a member's capacity and a workload's size: sums over every workload of a
	// member stay far from overflowing.
	maxUnits = 1_000_000_000
)

// fieldMaxBytes bounds string fields (each element of a list, each value of a map), by the
// field's full name; a map's keys are bounded under NAME.key.
var fieldMaxBytes = map[protoreflect.FullName]int{
	"cset.api.v1.ServerSpec.url":                       2048,
	"cset.api.v1.AddMemberRequest.password":            1024,
	"cset.api.v1.AddMemberRequest.ca_file":             1024,
	"cset.api.v1.AddMemberRequest.labels":              255,
	"cset.api.v1.AddMemberRequest.labels.key":          63,
	"cset.api.v1.CreateFaultDomainRequest.description": 1024,
	"cset.api.v1.RegisterWorkloadRequest.hooks":        1024,
	"cset.api.v1.Service.name":                         127,
	"cset.api.v1.ProbeSpec.target":                     1024,
	"cset.api.v1.Event.message":                        1024, // RecordAudit, cut to 512 when stored
}

// fieldMaxItems bounds list and map fields, by the field's full name.
var fieldMaxItems = map[protoreflect.FullName]int{
	"cset.api.v1.AddMemberRequest.servers":           32,
	"cset.api.v1.AddMemberRequest.labels":            64,
	"cset.api.v1.RegisterWorkloadRequest.candidates": 64,
	"cset.api.v1.RegisterWorkloadRequest.addresses":  64,
	"cset.api.v1.AddressList.addresses":              16,
	"cset.api.v1.RegisterWorkloadRequest.hooks":      16,
	"cset.api.v1.RegisterWorkloadRequest.services":   32,
	"cset.api.v1.RegisterWorkloadRequest.depends_on": 64,
	"cset.api.v1.CreateFaultDomainRequest.members":   1000,
	"cset.api.v1.Declaration.members":                1000,
	"cset.api.v1.Declaration.fault_domains":          1000,
	"cset.api.v1.Declaration.availability_sets":      1000,
	"cset.api.v1.Declaration.workloads":              10000,
	"cset.api.v1.RecordAuditRequest.events":          auditBatch + 1,
	"cset.api.v1.GuardHeartbeatRequest.known_groups": 10000,
}

// fieldMaxValue bounds integer fields, by the field's full name.
var fieldMaxValue = map[protoreflect.FullName]uint64{
	"cset.api.v1.InitSetRequest.ttl_seconds":                   maxTTLSeconds,
	"cset.api.v1.InitSetRequest.negative_ttl_seconds":          maxTTLSeconds,
	"cset.api.v1.AddMemberRequest.capacity":                    maxUnits,
	"cset.api.v1.RegisterWorkloadRequest.size":                 maxUnits,
	"cset.api.v1.RegisterWorkloadRequest.hook_timeout_seconds": 86400,
	"cset.api.v1.Service.port":                                 65535,
	"cset.api.v1.Service.priority":                             65535,
	"cset.api.v1.Service.weight":                               65535,
}

// limitsUnary refuses, before anything else looks at it, a request that is too large or has a
// field beyond its limit, naming the field and the limit but never echoing the value.
func (s *Server) limitsUnary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if m, ok := req.(proto.Message); ok {
		if err := checkLimits(m); err != nil {
			return nil, err
		}
	}
	return handler(ctx, req)
}

// checkLimits checks an API request against the limits above.
func checkLimits(m proto.Message) error {
	limit := maxRequestBytes
	if _, ok := m.(*apiv1.ApplyRequest); ok {
		limit = maxApplyBytes
	}
	// The fields first, so that the message names the one that is too large.
	if err := walkLimits(m.ProtoReflect(), ""); err != nil {
		return status.Error(codes.InvalidArgument, err.Error()+" (docs/cli.md, Limits)")
	}
	if n := proto.Size(m); n > limit {
		return invalid("the request is %d bytes long: at most %d are accepted (docs/cli.md, Limits)", n, limit)
	}
	return nil
}

func walkLimits(m protoreflect.Message, path string) error {
	var err error
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		err = checkField(fd, v, joinPath(path, string(fd.Name())))
		return err == nil
	})
	return err
}

func joinPath(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

func checkField(fd protoreflect.FieldDescriptor, v protoreflect.Value, path string) error {
	name := fd.FullName()
	switch {
	case fd.IsMap():
		mp := v.Map()
		if max := limitOf(fieldMaxItems, name, defaultMaxItems); mp.Len() > max {
			return fmt.Errorf("%s has %d entries: at most %d are accepted", path, mp.Len(), max)
		}
		var err error
		mp.Range(func(k protoreflect.MapKey, mv protoreflect.Value) bool {
			key := k.String()
			if max := limitOf(fieldMaxBytes, name+".key", defaultMaxBytes); len(key) > max {
				err = fmt.Errorf("%s has a key of %d bytes: at most %d are accepted", path, len(key), max)
				return false
			}
			err = checkValue(fd.MapValue(), name, mv, fmt.Sprintf("%s[%s]", path, quote(key)))
			return err == nil
		})
		return err
	case fd.IsList():
		l := v.List()
		if max := limitOf(fieldMaxItems, name, defaultMaxItems); l.Len() > max {
			return fmt.Errorf("%s has %d entries: at most %d are accepted", path, l.Len(), max)
		}
		for i := range l.Len() {
			if err := checkValue(fd, name, l.Get(i), fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
		return nil
	}
	return checkValue(fd, name, v, path)
}

// checkValue checks one value of field name (a singular field, an element of a list, a value
// of a map); fd describes the value's kind.
func checkValue(fd protoreflect.FieldDescriptor, name protoreflect.FullName, v protoreflect.Value, path string) error {
	switch fd.Kind() {
	case protoreflect.StringKind, protoreflect.BytesKind:
		n := len(v.String())
		if fd.Kind() == protoreflect.BytesKind {
			n = len(v.Bytes())
		}
		if max := limitOf(fieldMaxBytes, name, defaultMaxBytes); n > max {
			return fmt.Errorf("%s is %d bytes long: at most %d are accepted", path, n, max)
		}
	case protoreflect.MessageKind, protoreflect.GroupKind:
		return walkLimits(v.Message(), path)
	case protoreflect.Int32Kind, protoreflect.Int64Kind, protoreflect.Sint32Kind, protoreflect.Sint64Kind,
		protoreflect.Sfixed32Kind, protoreflect.Sfixed64Kind:
		if max, ok := fieldMaxValue[name]; ok && v.Int() > 0 && uint64(v.Int()) > max {
			return fmt.Errorf("%s %d is too large: at most %d is accepted", path, v.Int(), max)
		}
	case protoreflect.Uint32Kind, protoreflect.Uint64Kind, protoreflect.Fixed32Kind, protoreflect.Fixed64Kind:
		if max, ok := fieldMaxValue[name]; ok && v.Uint() > max {
			return fmt.Errorf("%s %d is too large: at most %d is accepted", path, v.Uint(), max)
		}
	}
	return nil
}

func limitOf(table map[protoreflect.FullName]int, name protoreflect.FullName, def int) int {
	if n, ok := table[name]; ok {
		return n
	}
	return def
}

// quote quotes s for an error message, cut to its first 64 bytes (with its length) when it is
// longer: a rejected value is never echoed back in full.
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

// checkServerURL refuses a server URL with a user name or password in it: the URL is stored as
// it is and shown to every read token, while the password given with --password-file is
// write-only.
func checkServerURL(member, server, raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		return nil // fsm.ValidateURL explains what else is wrong
	}
	u.User = nil
	return invalid("member %s: the URL of server %s has a user name or password in it (USER:PASSWORD@): URLs are stored and shown to every read token; "+
		"give the URL without them (%s), the user with --user and the password with --password-file (in an apply file: user and password_file)",
		member, quote(server), quote(u.String()))
}

// checkMemberRequest checks what AddMember and Apply accept of a member beyond fsm.ValidateMember.
func checkMemberRequest(r *apiv1.AddMemberRequest) error {
	for _, s := range r.GetServers() {
		if err := checkServerURL(r.GetName(), s.GetName(), s.GetUrl()); err != nil {
			return err
		}
	}
	for k := range r.GetLabels() {
		if k == "" {
			return invalid("member %s: a label has an empty key: give labels as KEY=VALUE", r.GetName())
		}
	}
	return nil
}

// checkWorkloadAddress refuses addresses that parse but that DNS must not hand out as a
// workload's: the unspecified address, broadcast, multicast, link-local addresses (valid on one
// link only) and addresses with a zone.
func checkWorkloadAddress(workload, member, s string) error {
	a, err := netip.ParseAddr(s)
	if err != nil {
		return nil // fsm.ValidateAddress explains it
	}
	why := ""
	switch u := a.Unmap(); {
	case a.Zone() != "":
		why = "has a zone (%" + a.Zone() + "), which means nothing off this host"
	case u.IsUnspecified():
		why = "the unspecified address"
	case u == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		why = "the broadcast address"
	case u.IsMulticast():
		why = "a multicast address"
	case u.IsLinkLocalUnicast():
		why = "link-local: valid on one network link only"
	}
	if why == "" {
		return nil
	}
	return invalid("workload %s: address %s on member %s is %s; DNS answers the name with it, so give the group's floating or virtual IP, e.g. 10.0.1.10",
		workload, quote(s), member, why)
}

// checkHook requires a hook to be the absolute path of an executable file on this master (the
// leader, which runs the hooks): it is run without arguments and without a shell, so a command
// line such as "/bin/sh -c id" is refused. Every master that may lead needs the same file.
func (s *Server) checkHook(workload, hook string) error {
	if !filepath.IsAbs(hook) {
		return nil // fsm.ValidateWorkload explains it
	}
	fi, err := os.Stat(hook)
	why := ""
	switch {
	case err != nil && strings.ContainsAny(hook, " \t"):
		why = "does not exist; a hook is the path of one executable, run without arguments: put a command line in a script"
	case os.IsNotExist(err):
		why = "does not exist"
	case err != nil:
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err // without the path, which the message quotes cut
		}
		why = fmt.Sprintf("cannot be read (%v)", err)
	case !fi.Mode().IsRegular():
		why = "is not a regular file"
	case fi.Mode().Perm()&0o111 == 0:
		why = fmt.Sprintf("is not executable (mode %04o): chmod +x it", fi.Mode().Perm())
	}
	if why == "" {
		return nil
	}
	return invalid("workload %s: hook %s %s on master %s; install it on every master (the leader runs the hooks) and register it again",
		workload, quote(hook), why, s.cfg.NodeID)
}

// checkWorkloadRequest checks what RegisterWorkload and Apply accept of a workload beyond
// fsm.ValidateWorkload.
func (s *Server) checkWorkloadRequest(w *fsmv1.Workload) error {
	for _, m := range sortedMapKeys(w.GetAddresses()) {
		for _, addr := range w.GetAddresses()[m].GetAddresses() {
			if err := checkWorkloadAddress(w.GetName(), m, addr); err != nil {
				return err
			}
		}
	}
	for _, h := range w.GetHooks() {
		if err := s.checkHook(w.GetName(), h); err != nil {
			return err
		}
	}
	return nil
}

func sortedMapKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// checkDeclaration refuses a declaration that names an object twice (it would silently keep
// the last) or puts a member in two fault domains.
func checkDeclaration(d *apiv1.Declaration) error {
	type named interface{ GetName() string }
	dup := func(what string, n int, at func(int) named) error {
		seen := map[string]int{}
		for i := range n {
			name := at(i).GetName()
			if j, ok := seen[name]; ok {
				return invalid("the declaration lists %s %s twice (entries %d and %d): give each once", what, quote(name), j+1, i+1)
			}
			seen[name] = i
		}
		return nil
	}
	if err := dup("fault domain", len(d.GetFaultDomains()), func(i int) named { return d.GetFaultDomains()[i] }); err != nil {
		return err
	}
	if err := dup("availability set", len(d.GetAvailabilitySets()), func(i int) named { return d.GetAvailabilitySets()[i] }); err != nil {
		return err
	}
	if err := dup("member", len(d.GetMembers()), func(i int) named { return d.GetMembers()[i] }); err != nil {
		return err
	}
	if err := dup("workload", len(d.GetWorkloads()), func(i int) named { return d.GetWorkloads()[i] }); err != nil {
		return err
	}
	fdOf := map[string]string{}
	for _, fd := range d.GetFaultDomains() {
		for _, m := range fd.GetMembers() {
			if other, ok := fdOf[m]; ok {
				return invalid("the declaration puts member %s in fault domains %s and %s: a member is in one fault domain", quote(m), quote(other), quote(fd.GetName()))
			}
			fdOf[m] = fd.GetName()
		}
	}
	return nil
}

// redactURL returns a stored server URL for the API: a password in it (stored before such URLs
// were refused) is replaced by xxxxx.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.User == nil {
		return s
	}
	return u.Redacted()
}
