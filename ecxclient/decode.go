package ecxclient

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// This file turns response bodies into values. It is pure (no I/O, no
// logging) so that the fuzz targets can drive it directly. Tolerance rules
// are explained in doc.go; in short: be lenient about presence and values,
// strict about JSON types, and never panic.

// envelope is the decoded common part of every ECX response.
type envelope struct {
	Code    int
	Message string
	// payload keys; nil when absent. Detail is the payload of mirrors/*/status.
	Cluster, Servers, Groups, Resources, Monitors, Detail json.RawMessage
}

type wireResult struct {
	Code    wireInt    `json:"code"`
	Message wireString `json:"message"`
}

type wireEnvelope struct {
	Result    json.RawMessage `json:"result"`
	Cluster   json.RawMessage `json:"cluster"`
	Servers   json.RawMessage `json:"servers"`
	Groups    json.RawMessage `json:"groups"`
	Resources json.RawMessage `json:"resources"`
	Monitors  json.RawMessage `json:"monitors"`
	Detail    json.RawMessage `json:"detail"`
}

// errNotEnvelope reports a body that is not an ECX response at all (HTML
// from a proxy, plain text, a JSON value without "result").
var errNotEnvelope = errors.New("not an ECX response envelope")

// parseEnvelope decodes the {"result":{"code","message"}, ...} envelope.
func parseEnvelope(body []byte) (*envelope, error) {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 {
		return nil, fmt.Errorf("%w: empty body", errNotEnvelope)
	}
	if trimmed[0] != '{' {
		return nil, fmt.Errorf("%w: body is not a JSON object", errNotEnvelope)
	}
	var w wireEnvelope
	if err := json.Unmarshal(trimmed, &w); err != nil {
		return nil, fmt.Errorf("%w: %w", errNotEnvelope, err)
	}
	if isNull(w.Result) {
		return nil, fmt.Errorf("%w: no \"result\" object", errNotEnvelope)
	}
	var r wireResult
	if err := json.Unmarshal(w.Result, &r); err != nil {
		return nil, fmt.Errorf("%w: bad \"result\": %w", errNotEnvelope, err)
	}
	return &envelope{
		Code: int(r.Code), Message: string(r.Message),
		Cluster: w.Cluster, Servers: w.Servers, Groups: w.Groups,
		Resources: w.Resources, Monitors: w.Monitors, Detail: w.Detail,
	}, nil
}

func isNull(raw json.RawMessage) bool {
	t := bytes.TrimSpace(raw)
	return len(t) == 0 || bytes.Equal(t, []byte("null"))
}

// wireString accepts a JSON string or null ("").
type wireString string

func (s *wireString) UnmarshalJSON(b []byte) error {
	if isNull(b) {
		*s = ""
		return nil
	}
	var v string
	if err := json.Unmarshal(b, &v); err != nil {
		return fmt.Errorf("expected a string, got %s", truncate(b, 40))
	}
	*s = wireString(v)
	return nil
}

// wireInt accepts an integral JSON number, a string holding one, or null (0).
type wireInt int

func (n *wireInt) UnmarshalJSON(b []byte) error {
	if isNull(b) {
		*n = 0
		return nil
	}
	text := string(bytes.TrimSpace(b))
	if strings.HasPrefix(text, `"`) {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return fmt.Errorf("expected an integer, got %s", truncate(b, 40))
		}
		text = strings.TrimSpace(s)
	}
	if i, err := strconv.ParseInt(text, 10, 32); err == nil {
		*n = wireInt(i)
		return nil
	}
	f, err := strconv.ParseFloat(text, 64)
	if err != nil || f != math.Trunc(f) || f > math.MaxInt32 || f < math.MinInt32 {
		return fmt.Errorf("expected an integer, got %s", truncate(b, 40))
	}
	*n = wireInt(f)
	return nil
}

// decodeList decodes an array payload into []T. An absent or null payload is
// an empty list; a single object is accepted as a one-element list.
func decodeList[T any](raw json.RawMessage, key string) ([]T, error) {
	if isNull(raw) {
		return nil, nil
	}
	t := bytes.TrimSpace(raw)
	if t[0] == '{' {
		var one T
		if err := json.Unmarshal(t, &one); err != nil {
			return nil, fmt.Errorf("%q: %w", key, err)
		}
		return []T{one}, nil
	}
	var list []T
	if err := json.Unmarshal(t, &list); err != nil {
		return nil, fmt.Errorf("%q: %w", key, err)
	}
	return list, nil
}

// normCurrent maps ECX's ways of saying "no server" to "".
func normCurrent(s wireString) string {
	v := strings.TrimSpace(string(s))
	if strings.EqualFold(v, "None") {
		return ""
	}
	return v
}

func status(raw wireString) (Status, string) {
	s, _ := ParseStatus(string(raw))
	return s, string(raw)
}

type wireCluster struct {
	Name    wireString `json:"name"`
	Status  wireString `json:"status"`
	ToRatio *wireInt   `json:"toratio"`
}

func decodeCluster(env *envelope) (Cluster, error) {
	list, err := decodeList[wireCluster](env.Cluster, "cluster")
	if err != nil {
		return Cluster{}, err
	}
	if len(list) == 0 {
		return Cluster{}, errors.New(`no "cluster" object in the response`)
	}
	st, raw := status(list[0].Status)
	return Cluster{Name: string(list[0].Name), Status: st, RawStatus: raw}, nil
}

func decodeToRatio(env *envelope) (int, error) {
	list, err := decodeList[wireCluster](env.Cluster, "cluster")
	if err != nil {
		return 0, err
	}
	if len(list) == 0 || list[0].ToRatio == nil {
		return 0, errors.New(`no "cluster.toratio" number in the response`)
	}
	return int(*list[0].ToRatio), nil
}

type wireServer struct {
	Name   wireString `json:"name"`
	Status wireString `json:"status"`
}

func decodeServers(env *envelope) ([]Server, error) {
	list, err := decodeList[wireServer](env.Servers, "servers")
	if err != nil {
		return nil, err
	}
	out := make([]Server, 0, len(list))
	for _, w := range list {
		st, raw := status(w.Status)
		out = append(out, Server{Name: string(w.Name), Status: st, RawStatus: raw})
	}
	return out, nil
}

// wireRef is one entry of groups[].resources: an object with "name", or
// (tolerated) a bare string.
type wireRef struct{ Name wireString }

func (r *wireRef) UnmarshalJSON(b []byte) error {
	t := bytes.TrimSpace(b)
	if len(t) > 0 && t[0] == '"' {
		return r.Name.UnmarshalJSON(t)
	}
	if isNull(t) {
		return nil
	}
	var obj struct {
		Name wireString `json:"name"`
	}
	if err := json.Unmarshal(t, &obj); err != nil {
		return err
	}
	r.Name = obj.Name
	return nil
}

type wireGroup struct {
	Name      wireString      `json:"name"`
	Status    wireString      `json:"status"`
	Current   wireString      `json:"current"`
	Resources json.RawMessage `json:"resources"`
}

func decodeGroups(env *envelope) ([]Group, error) {
	list, err := decodeList[wireGroup](env.Groups, "groups")
	if err != nil {
		return nil, err
	}
	out := make([]Group, 0, len(list))
	for _, w := range list {
		g := Group{Name: string(w.Name), Current: normCurrent(w.Current)}
		g.Status, g.RawStatus = status(w.Status)
		if !isNull(w.Resources) {
			refs, err := decodeList[wireRef](w.Resources, "groups[].resources")
			if err != nil {
				return nil, err
			}
			g.Resources = make([]ResourceRef, 0, len(refs))
			for _, r := range refs {
				if r.Name != "" {
					g.Resources = append(g.Resources, ResourceRef{Name: string(r.Name)})
				}
			}
		}
		out = append(out, g)
	}
	return out, nil
}

type wireResource struct {
	Name    wireString `json:"name"`
	Type    wireString `json:"type"`
	Status  wireString `json:"status"`
	Current wireString `json:"current"`
	Group   wireString `json:"group"`
}

func decodeResources(env *envelope) ([]Resource, error) {
	list, err := decodeList[wireResource](env.Resources, "resources")
	if err != nil {
		return nil, err
	}
	out := make([]Resource, 0, len(list))
	for _, w := range list {
		r := Resource{Name: string(w.Name), Type: string(w.Type), Current: normCurrent(w.Current), Group: string(w.Group)}
		r.Status, r.RawStatus = status(w.Status)
		out = append(out, r)
	}
	return out, nil
}

type wireMonitor struct {
	Name    wireString      `json:"name"`
	Type    wireString      `json:"type"`
	Status  wireString      `json:"status"`
	Servers json.RawMessage `json:"servers"`
}

func decodeMonitors(env *envelope) ([]Monitor, error) {
	list, err := decodeList[wireMonitor](env.Monitors, "monitors")
	if err != nil {
		return nil, err
	}
	out := make([]Monitor, 0, len(list))
	for _, w := range list {
		m := Monitor{Name: string(w.Name), Type: string(w.Type)}
		m.Status, m.RawStatus = status(w.Status)
		servers, err := decodeList[wireServer](w.Servers, "monitors[].servers")
		if err != nil {
			return nil, err
		}
		for _, s := range servers {
			ms := MonitorServer{Name: string(s.Name)}
			ms.Status, ms.RawStatus = status(s.Status)
			m.Servers = append(m.Servers, ms)
		}
		out = append(out, m)
	}
	return out, nil
}

type wireDetail struct {
	Status *wireString `json:"status"`
}

// decodeMirrorStatus decodes detail.status of mirrors/{kind}/status.
func decodeMirrorStatus(env *envelope) (string, error) {
	list, err := decodeList[wireDetail](env.Detail, "detail")
	if err != nil {
		return "", err
	}
	if len(list) == 0 || list[0].Status == nil {
		return "", errors.New(`no "detail.status" string in the response`)
	}
	return string(*list[0].Status), nil
}

// names extracts the "name" of every entry of a plural payload, as returned
// for ?select=name. Entries without a name are skipped.
func decodeNames(raw json.RawMessage, key string) ([]string, error) {
	list, err := decodeList[wireRef](raw, key)
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(list))
	for _, r := range list {
		if r.Name != "" {
			out = append(out, string(r.Name))
		}
	}
	return out, nil
}

// pick returns the entry of list whose name is want (exact, then ignoring
// case). A single unnamed entry is accepted as the answer for want. ok is
// false when the list does not hold want; other is then a name it did hold.
func pick[T any](list []T, name func(T) string, want string) (v T, ok bool, other string) {
	for _, e := range list {
		if name(e) == want {
			return e, true, ""
		}
	}
	for _, e := range list {
		if strings.EqualFold(name(e), want) {
			return e, true, ""
		}
	}
	if len(list) == 1 && name(list[0]) == "" {
		return list[0], true, ""
	}
	if len(list) > 0 {
		other = name(list[0])
	}
	return v, false, other
}

// truncate returns b as a printable string of at most n bytes (plus a note
// of how much was cut), safe to put in an error message.
func truncate(b []byte, n int) string {
	s := string(b)
	cut := 0
	if len(s) > n {
		cut = len(s) - n
		s = s[:n]
	}
	s = strings.ToValidUTF8(s, "?")
	s = strconv.Quote(s)
	if cut > 0 {
		s += fmt.Sprintf("... (%d more bytes)", cut)
	}
	return s
}
