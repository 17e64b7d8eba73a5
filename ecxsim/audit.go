package ecxsim

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"
)

// AuditRecord is one interval in which a group was online on a server. The interval starts when the
// start is accepted ("Online Pending") and ends when the group is "Offline" again or its server
// died, so "Online Pending" and "Online Failure" count as online: the conservative reading.
// OnlineUntil is nil while the interval is open.
type AuditRecord struct {
	Cluster     string     `json:"cluster"`
	Group       string     `json:"group"`
	Server      string     `json:"server"`
	OnlineFrom  time.Time  `json:"online_from"`
	OnlineUntil *time.Time `json:"online_until"`
}

func (r AuditRecord) until() string {
	if r.OnlineUntil == nil {
		return "(still online)"
	}
	return r.OnlineUntil.Format(time.RFC3339Nano)
}

func (r AuditRecord) String() string {
	return fmt.Sprintf("%s/%s from %s until %s", r.Cluster, r.Server, r.OnlineFrom.Format(time.RFC3339Nano), r.until())
}

// Overlap is one violation found by CheckNoDoubleOnline: the same group online in two clusters at
// the same instant.
type Overlap struct {
	Group string
	A, B  AuditRecord
}

// DoubleOnlineError lists every overlap found by CheckNoDoubleOnline.
type DoubleOnlineError struct {
	Overlaps []Overlap
}

func (e *DoubleOnlineError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d double-online overlap(s):", len(e.Overlaps))
	for _, o := range e.Overlaps {
		fmt.Fprintf(&b, "\n  group %q online on two clusters at once: %s and %s", o.Group, o.A, o.B)
	}
	return b.String()
}

// CheckNoDoubleOnline returns nil when no group name was online in two different clusters at the
// same instant, and otherwise a *DoubleOnlineError naming every pair of overlapping intervals.
// Intervals are half-open: one that ends exactly when another starts does not overlap it. Open
// intervals (OnlineUntil nil) extend forever.
func CheckNoDoubleOnline(recs []AuditRecord) error {
	byGroup := map[string][]AuditRecord{}
	for _, r := range recs {
		byGroup[r.Group] = append(byGroup[r.Group], r)
	}
	names := make([]string, 0, len(byGroup))
	for name := range byGroup {
		names = append(names, name)
	}
	sort.Strings(names)
	var found []Overlap
	for _, name := range names {
		rs := byGroup[name]
		sort.SliceStable(rs, func(i, j int) bool { return rs[i].OnlineFrom.Before(rs[j].OnlineFrom) })
		var active []AuditRecord
		for _, r := range rs {
			kept := active[:0]
			for _, a := range active {
				if a.OnlineUntil == nil || a.OnlineUntil.After(r.OnlineFrom) {
					kept = append(kept, a)
				}
			}
			active = kept
			for _, a := range active {
				if a.Cluster != r.Cluster && (r.OnlineUntil == nil || r.OnlineUntil.After(r.OnlineFrom)) {
					found = append(found, Overlap{Group: name, A: a, B: r})
				}
			}
			active = append(active, r)
		}
	}
	if len(found) == 0 {
		return nil
	}
	return &DoubleOnlineError{Overlaps: found}
}

// ReadAuditFile reads an audit file written by a Sim (Config.AuditFile). The file holds one JSON
// line when an interval opens and another when it closes; ReadAuditFile merges them, so an interval
// whose closing line is missing (the process was killed) stays open.
func ReadAuditFile(path string) ([]AuditRecord, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open audit file: %w", err)
	}
	defer f.Close()
	type key struct {
		cluster, group, server string
		from                   int64
	}
	index := map[key]int{}
	var out []AuditRecord
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for line := 1; sc.Scan(); line++ {
		if len(strings.TrimSpace(sc.Text())) == 0 {
			continue
		}
		var r AuditRecord
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			return nil, fmt.Errorf("audit file %s line %d: %w", path, line, err)
		}
		k := key{r.Cluster, r.Group, r.Server, r.OnlineFrom.UnixNano()}
		if i, ok := index[k]; ok {
			out[i] = r
			continue
		}
		index[k] = len(out)
		out = append(out, r)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read audit file: %w", err)
	}
	return out, nil
}

// auditLog keeps every online interval and optionally appends them to a file. Its own mutex is
// taken under a cluster lock, never the other way round.
type auditLog struct {
	recs []AuditRecord
	file *os.File
	enc  *json.Encoder
	err  error // first write error, reported by Close
}

func (s *Sim) auditOpen(c *simCluster, g *group, target int, now time.Time) {
	server := c.servers[target].name
	s.auditMu.Lock()
	defer s.auditMu.Unlock()
	if g.auditIdx >= 0 {
		if s.audit.recs[g.auditIdx].Server == server {
			return // restarted on the same server after "Online Failure": one interval
		}
		// Unreachable while a group has one current server. Should a change break that, the
		// earlier interval stays open so that the audit shows the double run instead of hiding it.
		s.log.Error("group started on a second server of its cluster", "cluster", c.cfg.Name, "group", g.cfg.Name,
			"online_on", s.audit.recs[g.auditIdx].Server, "server", server)
	}
	s.audit.recs = append(s.audit.recs, AuditRecord{
		Cluster: c.cfg.Name, Group: g.cfg.Name, Server: server, OnlineFrom: now,
	})
	g.auditIdx = len(s.audit.recs) - 1
	s.auditWrite(s.audit.recs[g.auditIdx])
}

func (s *Sim) auditClose(g *group, now time.Time) {
	s.auditMu.Lock()
	defer s.auditMu.Unlock()
	s.auditCloseLocked(g, now)
}

func (s *Sim) auditCloseLocked(g *group, now time.Time) {
	if g.auditIdx < 0 {
		return
	}
	until := now
	s.audit.recs[g.auditIdx].OnlineUntil = &until
	s.auditWrite(s.audit.recs[g.auditIdx])
	g.auditIdx = -1
}

func (s *Sim) auditWrite(r AuditRecord) {
	if s.audit.enc == nil || s.audit.err != nil {
		return
	}
	if err := s.audit.enc.Encode(r); err != nil {
		s.audit.err = fmt.Errorf("write audit file: %w", err)
		s.log.Error("audit file write failed; the in-memory audit log is still complete", "error", err)
	}
}

// Audit returns a copy of every audit record so far, open intervals with OnlineUntil nil.
func (s *Sim) Audit() []AuditRecord {
	s.auditMu.Lock()
	defer s.auditMu.Unlock()
	out := make([]AuditRecord, len(s.audit.recs))
	for i, r := range s.audit.recs {
		if r.OnlineUntil != nil {
			u := *r.OnlineUntil
			r.OnlineUntil = &u
		}
		out[i] = r
	}
	return out
}

func (s *Sim) openAuditFile() error {
	if s.cfg.AuditFile == "" {
		return nil
	}
	f, err := os.OpenFile(s.cfg.AuditFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("open audit file: %w", err)
	}
	s.auditMu.Lock()
	s.audit.file = f
	s.audit.enc = json.NewEncoder(f)
	s.auditMu.Unlock()
	return nil
}

func (s *Sim) closeAuditFile() error {
	s.auditMu.Lock()
	defer s.auditMu.Unlock()
	if s.audit.file == nil {
		return s.audit.err
	}
	err := errors.Join(s.audit.err, s.audit.file.Close())
	s.audit.file, s.audit.enc = nil, nil
	return err
}
