package fsm

import (
	"crypto/sha256"

	fsmv1 "github.com/cset-project/cset/proto/cset/fsm/v1"
	"google.golang.org/protobuf/proto"
)

// The roles of API tokens, from least to most privileged.
const (
	RoleRead    = "read"
	RoleOperate = "operate"
	RoleAdmin   = "admin"
	// RoleGuard may call only GuardHeartbeat: the token of `csetd guard` on the ECX servers.
	RoleGuard = "guard"
)

// ValidateRole reports whether role is one of the token roles.
func ValidateRole(role string) error {
	switch role {
	case RoleRead, RoleOperate, RoleAdmin, RoleGuard:
		return nil
	}
	return invalidf("role %q is unknown: use read, operate, admin or guard", role)
}

func (a *applier) applyCreateToken(c *fsmv1.CreateTokenCommand) error {
	t := proto.Clone(c.GetToken()).(*fsmv1.Token)
	if err := ValidateName("token name", t.GetName()); err != nil {
		return err
	}
	if err := ValidateRole(t.GetRole()); err != nil {
		return err
	}
	if len(t.GetHash()) != sha256.Size {
		return invalidf("token %q: the hash must be %d bytes, not %d", t.GetName(), sha256.Size, len(t.GetHash()))
	}
	if c.GetOnlyIfNone() && len(a.s.tokens) > 0 {
		return preconditionf("tokens exist already: no bootstrap token is needed")
	}
	if a.s.tokens[t.Name] != nil {
		return existsf("token %q already exists: revoke it first or choose another name", t.Name)
	}
	t.CreatedUnixNano = a.at
	a.s.tokens[t.Name] = t
	a.event("admin", "info", "", "", "", "token %s created with role %s", t.Name, t.Role)
	return nil
}

func (a *applier) applyRevokeToken(c *fsmv1.RevokeTokenCommand) error {
	t := a.s.tokens[c.GetName()]
	if t == nil {
		return notFoundf("token %q does not exist (see 'csetctl token list')", c.GetName())
	}
	if t.Role == RoleAdmin && a.s.countTokens(RoleAdmin) == 1 {
		return preconditionf("token %q is the last admin token: create another admin token before revoking it", t.Name)
	}
	delete(a.s.tokens, t.Name)
	a.event("admin", "warn", "", "", "", "token %s (role %s) revoked", t.Name, t.Role)
	return nil
}

func (s *state) countTokens(role string) int {
	n := 0
	for _, t := range s.tokens {
		if t.Role == role {
			n++
		}
	}
	return n
}
