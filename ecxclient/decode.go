package ecxclient

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
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
	// Each is the value's bytes inside the body (not a copy), for the payload
	// decoders below.
	Cluster, Servers, Groups, Resources, Monitors, Detail json.RawMessage
}

type wireResult struct {
	Code    wireInt    `json:"code"`
	Message wireString `json:"message"`
}

// errNotEnvelope reports a body that is not an ECX response at all (HTML
// from a proxy, plain text, a JSON value without "result").
var errNotEnvelope = errors.New("not an ECX response envelope")

// parseEnvelope decodes the {"result":{"code","message"}, ...} envelope in one
// pass over the body, which it also checks to be one valid JSON object: it
// reads "result" and remembers where each payload key's value lies, for the
// payload decoders; every other key is only checked for syntax.
func parseEnvelope(body []byte) (*envelope, error) {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 {
		return nil, fmt.Errorf("%w: empty body", errNotEnvelope)
	}
	if trimmed[0] != '{' {
		return nil, fmt.Errorf("%w: body is not a JSON object", errNotEnvelope)
	}
	env := &envelope{}
	var result []byte
	r := jsonReader{b: trimmed}
	err := r.object(func(key []byte) error {
		raw, err := r.value()
		if err != nil {
			return err
		}
		switch {
		case keyIs(key, "result"):
			result = raw
		case keyIs(key, "cluster"):
			env.Cluster = raw
		case keyIs(key, "servers"):
			env.Servers = raw
		case keyIs(key, "groups"):
			env.Groups = raw
		case keyIs(key, "resources"):
			env.Resources = raw
		case keyIs(key, "monitors"):
			env.Monitors = raw
		case keyIs(key, "detail"):
			env.Detail = raw
		}
		return nil
	})
	if err == nil {
		err = r.end()
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errNotEnvelope, err)
	}
	if isNull(result) {
		return nil, fmt.Errorf("%w: no \"result\" object", errNotEnvelope)
	}
	if err := decodeResult(result, env); err != nil {
		return nil, fmt.Errorf("%w: bad \"result\": %w", errNotEnvelope, err)
	}
	return env, nil
}

// decodeResult reads result.code and result.message (the last of each, as
// encoding/json would) from raw, a valid JSON value.
func decodeResult(raw []byte, env *envelope) error {
	if raw[0] != '{' {
		return fmt.Errorf("expected an object, got %s", truncate(raw, 40))
	}
	r := jsonReader{b: raw}
	return r.object(func(key []byte) error {
		v, err := r.value()
		if err != nil {
			return err
		}
		switch {
		case keyIs(key, "code"):
			env.Code, err = intValue(v)
		case keyIs(key, "message"):
			env.Message, err = stringValue(v, false)
		}
		return err
	})
}

func isNull(raw json.RawMessage) bool {
	t := bytes.TrimSpace(raw)
	return len(t) == 0 || bytes.Equal(t, []byte("null"))
}

// The payloads read on every poll (servers and groups) and the envelope of
// every answer are read by the small JSON reader below rather than through
// encoding/json: one pass, no reflection, no copy of the payloads, no nested
// json.Unmarshal that checks its input again, and no string allocated for a
// status spelled as ECX spells it. It accepts exactly the JSON that
// encoding/json accepts and decodes the fields as encoding/json decoded them
// into the wire types (keys matched ignoring case, the last of duplicate keys
// winning, null for absent); decode_test.go checks it against encoding/json
// (FuzzDecodeMatchesEncodingJSON).

// maxNesting is encoding/json's limit on nested arrays and objects.
const maxNesting = 10000

// jsonReader reads JSON values from b, checking their syntax.
type jsonReader struct {
	b     []byte
	i     int
	depth int
}

func (r *jsonReader) ws() {
	for r.i < len(r.b) {
		switch r.b[r.i] {
		case ' ', '\t', '\n', '\r':
			r.i++
		default:
			return
		}
	}
}

// fail reports a syntax error at the current position.
func (r *jsonReader) fail(context string) error {
	if r.i >= len(r.b) {
		return errors.New("unexpected end of JSON input")
	}
	return fmt.Errorf("invalid character %s %s (offset %d)", strconv.QuoteRune(rune(r.b[r.i])), context, r.i)
}

// end checks that nothing but white space follows the value read.
func (r *jsonReader) end() error {
	r.ws()
	if r.i < len(r.b) {
		return r.fail("after top-level value")
	}
	return nil
}

// value reads one value and returns its bytes.
func (r *jsonReader) value() ([]byte, error) {
	r.ws()
	start := r.i
	if err := r.skip(); err != nil {
		return nil, err
	}
	return r.b[start:r.i], nil
}

// skip reads one value, only checking it.
func (r *jsonReader) skip() error {
	r.ws()
	if r.i >= len(r.b) {
		return r.fail("")
	}
	switch c := r.b[r.i]; {
	case c == '{':
		return r.object(func([]byte) error { return r.skip() })
	case c == '[':
		return r.array(r.skip)
	case c == '"':
		_, _, err := r.str()
		return err
	case c == '-' || '0' <= c && c <= '9':
		return r.number()
	case c == 't':
		return r.literal("true")
	case c == 'f':
		return r.literal("false")
	case c == 'n':
		return r.literal("null")
	}
	return r.fail("looking for beginning of value")
}

func (r *jsonReader) literal(word string) error {
	for k := 0; k < len(word); k++ {
		if r.i >= len(r.b) || r.b[r.i] != word[k] {
			return r.fail("in literal " + word)
		}
		r.i++
	}
	return nil
}

func (r *jsonReader) digits() int {
	n := 0
	for r.i < len(r.b) && '0' <= r.b[r.i] && r.b[r.i] <= '9' {
		r.i++
		n++
	}
	return n
}

// number reads -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
func (r *jsonReader) number() error {
	if r.b[r.i] == '-' {
		r.i++
	}
	switch {
	case r.i < len(r.b) && r.b[r.i] == '0':
		r.i++
	case r.digits() == 0:
		return r.fail("in numeric literal")
	}
	if r.i < len(r.b) && r.b[r.i] == '.' {
		r.i++
		if r.digits() == 0 {
			return r.fail("after decimal point in numeric literal")
		}
	}
	if r.i < len(r.b) && (r.b[r.i] == 'e' || r.b[r.i] == 'E') {
		r.i++
		if r.i < len(r.b) && (r.b[r.i] == '+' || r.b[r.i] == '-') {
			r.i++
		}
		if r.digits() == 0 {
			return r.fail("in exponent of numeric literal")
		}
	}
	return nil
}

// str reads a string at r.i (a '"') and returns its contents between the
// quotes; plain is true when they hold neither an escape nor a byte beyond
// ASCII, so that they are the string itself.
func (r *jsonReader) str() (contents []byte, plain bool, err error) {
	r.i++ // the opening quote
	start, plain := r.i, true
	for r.i < len(r.b) {
		c := r.b[r.i]
		switch {
		case c == '"':
			r.i++
			return r.b[start : r.i-1], plain, nil
		case c < 0x20:
			return nil, false, r.fail("in string literal")
		case c == '\\':
			plain = false
			r.i++
			if r.i >= len(r.b) {
				return nil, false, r.fail("")
			}
			switch r.b[r.i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				r.i++
			case 'u':
				r.i++
				for range 4 {
					if r.i >= len(r.b) {
						return nil, false, r.fail("")
					}
					if h := r.b[r.i]; !('0' <= h && h <= '9' || 'a' <= h && h <= 'f' || 'A' <= h && h <= 'F') {
						return nil, false, r.fail("in \\u hexadecimal character escape")
					}
					r.i++
				}
			default:
				return nil, false, r.fail("in string escape code")
			}
		default:
			if c >= 0x80 {
				plain = false
			}
			r.i++
		}
	}
	return nil, false, r.fail("")
}

// enter passes the '{' or '[' at r.i.
func (r *jsonReader) enter() error {
	r.i++
	if r.depth++; r.depth > maxNesting {
		return errors.New("exceeded max depth")
	}
	return nil
}

// object reads the object at r.i, calling member for each key with r just
// after the key's colon: member must read the value.
func (r *jsonReader) object(member func(key []byte) error) error {
	if err := r.enter(); err != nil {
		return err
	}
	r.ws()
	if r.i < len(r.b) && r.b[r.i] == '}' {
		r.i++
		r.depth--
		return nil
	}
	for {
		r.ws()
		if r.i >= len(r.b) || r.b[r.i] != '"' {
			return r.fail("looking for beginning of object key string")
		}
		key, plain, err := r.str()
		if err != nil {
			return err
		}
		if !plain {
			if key, err = unquote(r.b[r.i-len(key)-2 : r.i]); err != nil {
				return err
			}
		}
		r.ws()
		if r.i >= len(r.b) || r.b[r.i] != ':' {
			return r.fail("after object key")
		}
		r.i++
		if err := member(key); err != nil {
			return err
		}
		r.ws()
		if r.i < len(r.b) && r.b[r.i] == ',' {
			r.i++
			continue
		}
		if r.i < len(r.b) && r.b[r.i] == '}' {
			r.i++
			r.depth--
			return nil
		}
		return r.fail("after object key:value pair")
	}
}

// array reads the array at r.i, calling elem for each element: elem must
// read it.
func (r *jsonReader) array(elem func() error) error {
	if err := r.enter(); err != nil {
		return err
	}
	r.ws()
	if r.i < len(r.b) && r.b[r.i] == ']' {
		r.i++
		r.depth--
		return nil
	}
	for {
		if err := elem(); err != nil {
			return err
		}
		r.ws()
		if r.i < len(r.b) && r.b[r.i] == ',' {
			r.i++
			continue
		}
		if r.i < len(r.b) && r.b[r.i] == ']' {
			r.i++
			r.depth--
			return nil
		}
		return r.fail("after array element")
	}
}

// unquote decodes a JSON string with escapes or non-ASCII bytes as
// encoding/json does (invalid UTF-8 and lone surrogates become U+FFFD).
func unquote(quoted []byte) ([]byte, error) {
	var s string
	if err := json.Unmarshal(quoted, &s); err != nil {
		return nil, err
	}
	return []byte(s), nil
}

// keyIs reports whether an object key names the field name (lower-case
// ASCII), ignoring case as encoding/json does.
func keyIs(key []byte, name string) bool {
	if len(key) == len(name) {
		ascii := true
		for k := 0; k < len(key); k++ {
			c := key[k]
			if c >= utf8.RuneSelf {
				ascii = false
				break
			}
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			if c != name[k] {
				return false
			}
		}
		if ascii {
			return true
		}
	}
	for _, c := range key {
		if c >= utf8.RuneSelf {
			return bytes.EqualFold(key, []byte(name)) // e.g. U+017F, long s, folds to s
		}
	}
	return false
}

// stringValue decodes a string or null (""), the value of a wireString.
// With status, a status spelled as ECX spells it costs no allocation.
func stringValue(v []byte, status bool) (string, error) {
	switch v[0] {
	case 'n':
		return "", nil
	case '"':
	default:
		return "", fmt.Errorf("expected a string, got %s", truncate(v, 40))
	}
	contents := v[1 : len(v)-1]
	for _, c := range contents {
		if c == '\\' || c >= utf8.RuneSelf {
			s, err := unquote(v)
			return string(s), err
		}
	}
	if status {
		for _, name := range statusNames {
			if string(contents) == name {
				return name, nil
			}
		}
	}
	return string(contents), nil
}

// intValue decodes the value of a wireInt.
func intValue(v []byte) (int, error) {
	if len(v) == 1 && '0' <= v[0] && v[0] <= '9' {
		return int(v[0] - '0'), nil
	}
	var n wireInt
	err := n.UnmarshalJSON(v)
	return int(n), err
}

// statusOf is ParseStatus(raw), without its work for a status spelled as
// ECX spells it.
func statusOf(raw string) Status {
	for i, name := range statusNames {
		if raw == name {
			return Status(i)
		}
	}
	s, _ := ParseStatus(raw)
	return s
}

// eachObject calls obj for every object of a plural payload, with r at the
// object: obj must read it. An absent or null payload has none; a single
// object is taken as a one-element list; a null element is an empty object.
func eachObject(raw []byte, key string, obj func(r *jsonReader) error) error {
	raw = bytes.TrimSpace(raw)
	if isNull(raw) {
		return nil
	}
	r := &jsonReader{b: raw}
	var err error
	switch raw[0] {
	case '{':
		err = obj(r)
	case '[':
		err = r.array(func() error {
			r.ws()
			switch {
			case r.i < len(r.b) && r.b[r.i] == '{':
				return obj(r)
			case r.i < len(r.b) && r.b[r.i] == 'n':
				if err := r.literal("null"); err != nil {
					return err
				}
				return obj(&jsonReader{b: []byte("{}")})
			}
			v, err := r.value()
			if err != nil {
				return err
			}
			return fmt.Errorf("expected an object, got %s", truncate(v, 40))
		})
	default:
		err = fmt.Errorf("expected an array or an object, got %s", truncate(raw, 40))
	}
	if err == nil {
		err = r.end()
	}
	if err != nil {
		return fmt.Errorf("%q: %w", key, err)
	}
	return nil
}

// decodeRefs decodes a list of {"name"} objects, as groups[].resources and
// ?select=name answers hold, into the names that are not empty. An entry may
// also be a plain string, or null.
func decodeRefs(raw []byte, key string) ([]string, error) {
	raw = bytes.TrimSpace(raw)
	out := []string{}
	if isNull(raw) {
		return out, nil
	}
	r := &jsonReader{b: raw}
	ref := func() error {
		r.ws()
		v, err := r.value()
		if err != nil {
			return err
		}
		var name string
		switch v[0] {
		case '"':
			name, err = stringValue(v, false)
		case 'n':
		case '{':
			o := jsonReader{b: v}
			err = o.object(func(k []byte) error {
				f, err := o.value()
				if err == nil && keyIs(k, "name") {
					name, err = stringValue(f, false)
				}
				return err
			})
		default:
			err = fmt.Errorf("expected an object or a string, got %s", truncate(v, 40))
		}
		if name != "" {
			out = append(out, name)
		}
		return err
	}
	var err error
	switch raw[0] {
	case '{':
		err = ref()
	case '[':
		err = r.array(ref)
	default:
		err = fmt.Errorf("expected an array or an object, got %s", truncate(raw, 40))
	}
	if err == nil {
		err = r.end()
	}
	if err != nil {
		return nil, fmt.Errorf("%q: %w", key, err)
	}
	return out, nil
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
	out := []Server{}
	err := eachObject(env.Servers, "servers", func(r *jsonReader) error {
		var s Server
		err := r.object(func(key []byte) error {
			v, err := r.value()
			if err != nil {
				return err
			}
			switch {
			case keyIs(key, "name"):
				s.Name, err = stringValue(v, false)
			case keyIs(key, "status"):
				s.RawStatus, err = stringValue(v, true)
			}
			return err
		})
		if err != nil {
			return err
		}
		s.Status = statusOf(s.RawStatus)
		out = append(out, s)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// decodeGroups decodes the groups with their resources.
func decodeGroups(env *envelope) ([]Group, error) {
	return decodeGroupList(env, true)
}

// decodeGroupStates decodes the groups' name, status and current server only:
// their resources are skipped, not decoded (Resources nil), so that a poll
// neither spends time on them nor fails because of them.
func decodeGroupStates(env *envelope) ([]Group, error) {
	return decodeGroupList(env, false)
}

func decodeGroupList(env *envelope, withResources bool) ([]Group, error) {
	out := make([]Group, 0, min(len(env.Groups)/64+1, 256))
	err := eachObject(env.Groups, "groups", func(r *jsonReader) error {
		var g Group
		var resources []byte // the last "resources" value, as encoding/json keeps it
		err := r.object(func(key []byte) error {
			if !withResources && keyIs(key, "resources") {
				return r.skip()
			}
			v, err := r.value()
			if err != nil {
				return err
			}
			switch {
			case keyIs(key, "name"):
				g.Name, err = stringValue(v, false)
			case keyIs(key, "status"):
				g.RawStatus, err = stringValue(v, true)
			case keyIs(key, "current"):
				g.Current, err = stringValue(v, false)
			case keyIs(key, "resources"):
				resources = v
			}
			return err
		})
		if err != nil {
			return err
		}
		g.Status = statusOf(g.RawStatus)
		g.Current = normCurrent(wireString(g.Current))
		if !isNull(resources) {
			refs, err := decodeRefs(resources, "resources")
			if err != nil {
				return err
			}
			g.Resources = make([]ResourceRef, len(refs))
			for i, name := range refs {
				g.Resources[i] = ResourceRef{Name: name}
			}
		}
		out = append(out, g)
		return nil
	})
	if err != nil {
		return nil, err
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

// decodeNames extracts the "name" of every entry of a plural payload, as
// returned for ?select=name. Entries without a name are skipped.
func decodeNames(raw json.RawMessage, key string) ([]string, error) {
	return decodeRefs(raw, key)
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
