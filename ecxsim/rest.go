package ecxsim

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"time"
)

// Result codes of the envelope. 0 is success (docs/ecx.md); real ECX error codes are unknown
// ([U]), so these are the simulator's choices (docs/ecx.md): clients must only rely on
// "non-zero means failure".
const (
	CodeOK             = 0
	CodeInvalidRequest = 1 // malformed body, missing or unknown target, unsupported select
	CodeAuthFailed     = 2 // HTTP 401, message "authentication failed"
	CodeNotFound       = 3 // HTTP 404, message names the unknown object
	CodeRejected       = 4 // HTTP 409, the operation conflicts with the cluster state
	CodeInternal       = 5 // HTTP 500, injected with the control API "errors" call
)

// MessageAuthFailed is the envelope message of HTTP 401.
const MessageAuthFailed = "authentication failed"

// Error styles of a cluster (ClusterConfig.ErrorStyle, control API "error-style"): how a failed
// request is answered. ECX's own client treats a 2xx answer to an operation POST with a non-zero
// result.code or a non-empty result.message as a failure (docs/ecx.md), so a real cluster may
// report failures either way.
const (
	// ErrorStyleHTTP (the default, also "") answers failures with an error status: 400, 409, 500.
	ErrorStyleHTTP = "http"
	// ErrorStyleEnvelope answers the failures of operation POSTs (400, 409 and 500) and every
	// injected error (SetErrorRate) as HTTP 200 with the same non-zero result.code and message.
	// Authentication failures (401), unknown objects or paths (404) and wrong methods (405) keep
	// their status.
	ErrorStyleEnvelope = "envelope"
)

// ValidErrorStyle reports whether s names an error style ("" is the default, ErrorStyleHTTP).
func ValidErrorStyle(s string) bool {
	return s == "" || s == ErrorStyleHTTP || s == ErrorStyleEnvelope
}

// envelopeErrors answers the failures written through it as HTTP 200: the body (the envelope)
// already carries the non-zero result.code and the message.
type envelopeErrors struct{ http.ResponseWriter }

func (w envelopeErrors) WriteHeader(status int) {
	switch status {
	case http.StatusBadRequest, http.StatusConflict, http.StatusInternalServerError:
		status = http.StatusOK
	}
	w.ResponseWriter.WriteHeader(status)
}

const maxBody = 64 << 10

type serverKey struct{}

type result struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

type clusterJSON struct {
	Name   string `json:"name"`
	Status string `json:"status"`
}

type toratioJSON struct {
	Toratio int `json:"toratio"`
}

type nameJSON struct {
	Name string `json:"name"`
}

type serverJSON struct {
	Name   string `json:"name"`
	Status string `json:"status"`
}

type groupJSON struct {
	Name      string     `json:"name"`
	Status    string     `json:"status"`
	Current   string     `json:"current"`
	Resources []nameJSON `json:"resources"`
}

type groupResourcesJSON struct {
	Name      string     `json:"name"`
	Resources []nameJSON `json:"resources"`
}

type resourceJSON struct {
	Name    string `json:"name"`
	Type    string `json:"type"`
	Status  string `json:"status"`
	Current string `json:"current"`
	Group   string `json:"group"`
}

type monitorJSON struct {
	Name    string       `json:"name"`
	Type    string       `json:"type"`
	Status  string       `json:"status"`
	Servers []serverJSON `json:"servers"`
}

// writeEnvelope writes {"result":{...}} plus, when key is not empty, the payload under key.
func writeEnvelope(w http.ResponseWriter, status, code int, msg, key string, payload any) {
	var b bytes.Buffer
	res, _ := json.Marshal(result{Code: code, Message: msg})
	b.WriteString(`{"result":`)
	b.Write(res)
	if key != "" {
		p, err := json.Marshal(payload)
		if err != nil {
			// Unreachable: the payloads are plain structs of strings and numbers.
			panic(fmt.Sprintf("ecxsim: encode %s: %v", key, err))
		}
		b.WriteString(`,"` + key + `":`)
		b.Write(p)
	}
	b.WriteString("}\n")
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(b.Bytes())
}

func writeOK(w http.ResponseWriter, key string, payload any) {
	writeEnvelope(w, http.StatusOK, CodeOK, "", key, payload)
}

// apiError is an error response of the REST API.
type apiError struct {
	status int
	code   int
	msg    string
}

func (e *apiError) Error() string { return e.msg }

func rejected(format string, args ...any) *apiError {
	return &apiError{http.StatusConflict, CodeRejected, fmt.Sprintf(format, args...)}
}

func invalid(format string, args ...any) *apiError {
	return &apiError{http.StatusBadRequest, CodeInvalidRequest, fmt.Sprintf(format, args...)}
}

func notFound(kind, name string) *apiError {
	return &apiError{http.StatusNotFound, CodeNotFound, fmt.Sprintf("%s %q not found", kind, name)}
}

// heldRequest holds a request that arrives while the cluster is isolated until the heal, as a
// partition holds a request in the sender's TCP send queue: the sender's kernel keeps
// retransmitting it, even after its program gave up and closed the connection, and it is
// delivered when the link comes back. Only a client that reset its connection (RST, SO_LINGER 0)
// discarded it: such a request is dropped. It reports whether the request is to be served.
func (c *simCluster) heldRequest(ctx context.Context, heal <-chan struct{}) bool {
	c.mu.Lock()
	c.held++
	c.mu.Unlock()
	conn, _ := ctx.Value(connKey{}).(net.Conn)
	done := ctx.Done()
	deliver := false
	for waiting := true; waiting; {
		select {
		case <-heal:
			deliver, waiting = !connReset(ctx, conn), false
		case <-done:
			// The client closed or reset the connection. A reset discards the request; a
			// close only adds a FIN after it, so it still arrives at the heal.
			if connReset(ctx, conn) {
				waiting = false
			}
			done = nil
		case <-c.sim.closing:
			waiting = false
		}
	}
	c.mu.Lock()
	c.held--
	if deliver {
		c.late++
	} else {
		c.dropped++
	}
	c.mu.Unlock()
	return deliver
}

// connKey is the context key of the connection a REST request came on (http.Server.ConnContext).
type connKey struct{}

func writeError(w http.ResponseWriter, e *apiError) {
	writeEnvelope(w, e.status, e.code, e.msg, "", nil)
}

// ServeHTTP is the REST entry point of one server: it applies the cluster's injected faults
// (isolation, latency, error rate), checks Basic auth and dispatches to the shared mux. The
// cluster's error style decides how failures are answered.
func (srv *simServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c := srv.c
	c.mu.Lock()
	isolated, heal, latency, rate := c.isolated, c.healCh, c.latency, c.errorRate
	envelope := c.cfg.ErrorStyle == ErrorStyleEnvelope
	c.mu.Unlock()
	ctx := r.Context()
	if isolated && !c.heldRequest(ctx, heal) {
		panic(http.ErrAbortHandler)
	}
	if latency > 0 {
		t := time.NewTimer(latency)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			panic(http.ErrAbortHandler)
		case <-c.sim.closing:
			t.Stop()
			panic(http.ErrAbortHandler)
		}
	}
	if rate > 0 && rand.Float64() < rate {
		if envelope {
			w = envelopeErrors{w}
		}
		writeError(w, &apiError{http.StatusInternalServerError, CodeInternal, "internal server error (injected by ecxsim)"})
		return
	}
	user, pass, ok := r.BasicAuth()
	if !ok || subtle.ConstantTimeCompare([]byte(user), []byte(c.cfg.User)) != 1 ||
		subtle.ConstantTimeCompare([]byte(pass), []byte(c.cfg.Password)) != 1 {
		w.Header().Set("WWW-Authenticate", `Basic realm="EXPRESSCLUSTER"`)
		writeError(w, &apiError{http.StatusUnauthorized, CodeAuthFailed, MessageAuthFailed})
		return
	}
	if envelope && r.Method == http.MethodPost {
		w = envelopeErrors{w}
	}
	c.sim.restMux.ServeHTTP(w, r.WithContext(context.WithValue(ctx, serverKey{}, srv)))
}

// restHandler is a REST handler for one method; it receives the answering server's cluster.
type restHandler func(w http.ResponseWriter, r *http.Request, c *simCluster)

// serve adapts h to the mux: the answering server is in the request's context (ServeHTTP).
func serve(h restHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		h(w, r, r.Context().Value(serverKey{}).(*simServer).c)
	}
}

// notAllowed answers 405 in the envelope, with Allow naming the method the path serves: ECX's
// answer to a wrong method, where Go's mux would answer in plain text.
func notAllowed(allow string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) { methodNotAllowed(w, r, allow) }
}

// unknownPath answers 404 in the envelope, where Go's mux would answer in plain text.
func unknownPath(w http.ResponseWriter, r *http.Request) {
	writeError(w, unknownOp(r))
}

// newRESTMux routes the REST API. Each path serves one method; every other method on it, HEAD
// included (a GET pattern would serve HEAD), is 405 with Allow, and a path not listed is 404, both
// in the envelope. The method is checked before the operation name: GET on an unknown operation
// is 405, POST on it 404 (the handlers' switch).
func (s *Sim) newRESTMux() *http.ServeMux {
	m := http.NewServeMux()
	get := func(path string, h restHandler) {
		m.HandleFunc("GET "+path, serve(h))
		m.HandleFunc("HEAD "+path, notAllowed(http.MethodGet))
		m.HandleFunc(path, notAllowed(http.MethodGet))
	}
	post := func(path string, h restHandler) {
		m.HandleFunc("POST "+path, serve(h))
		m.HandleFunc(path, notAllowed(http.MethodPost))
	}
	get("/api/v1/cluster", getCluster)
	// cluster/toratio shares its shape with the operations cluster/{op}. The mux prefers a pattern
	// with a method to one without, whatever their paths, so a pattern "/api/v1/cluster/toratio"
	// for the other methods would conflict with "POST /api/v1/cluster/{op}": POST is refused by
	// its own pattern, and the other methods by cluster/{op}'s, which names toratio's method.
	m.HandleFunc("GET /api/v1/cluster/toratio", serve(getToratio))
	m.HandleFunc("HEAD /api/v1/cluster/toratio", notAllowed(http.MethodGet))
	m.HandleFunc("POST /api/v1/cluster/toratio", notAllowed(http.MethodGet))
	m.HandleFunc("POST /api/v1/cluster/{op}", serve(postCluster))
	m.HandleFunc("/api/v1/cluster/{op}", func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("op") == "toratio" {
			methodNotAllowed(w, r, http.MethodGet)
			return
		}
		methodNotAllowed(w, r, http.MethodPost)
	})
	post("/api/v1/cluster/toratio/{op}", postToratio)
	get("/api/v1/servers", getServers)
	get("/api/v1/servers/{server}", getServers)
	post("/api/v1/servers/{server}/{op}", postServer)
	post("/api/v1/servers/{server}/dummy-failure/{op}", postServerDummy)
	get("/api/v1/groups", getGroups)
	// groups/start and groups/stop have a group's path: a group of that name is read with GET,
	// and every method but POST is refused with GET's 405 by get's patterns.
	get("/api/v1/groups/{group}", getGroups)
	m.HandleFunc("POST /api/v1/groups/start", serve(postGroupsBulk("start")))
	m.HandleFunc("POST /api/v1/groups/stop", serve(postGroupsBulk("stop")))
	post("/api/v1/groups/{group}/{op}", postGroup)
	get("/api/v1/resources", getResources)
	get("/api/v1/resources/{resource}", getResources)
	post("/api/v1/resources/{resource}/{op}", postResource)
	get("/api/v1/monitors", getMonitors)
	get("/api/v1/monitors/{monitor}", getMonitors)
	post("/api/v1/monitors/{monitor}/{op}", postMonitor)
	post("/api/v1/monitors/{monitor}/dummy-failure/{op}", postMonitorDummy)
	// Each kind and action of mirrors/ has its own path, so that an unknown one is 404 whatever
	// the method.
	for k, kind := range mirrorKinds {
		get("/api/v1/mirrors/"+kind+"/status", mirrorStatus(k))
		for _, action := range []string{"preaction", "postaction"} {
			post("/api/v1/mirrors/"+kind+"/"+action, mirrorAction(k, action))
		}
	}
	// scripts/run and metrics/* are not simulated: like any unknown path, 404 (docs/ecxsim.md).
	m.HandleFunc("/", unknownPath)
	return m
}

// selectParam returns the select query value after checking it is one of allowed ("" is always
// allowed).
func selectParam(r *http.Request, allowed ...string) (string, *apiError) {
	sel := r.URL.Query().Get("select")
	if sel == "" {
		return "", nil
	}
	for _, a := range allowed {
		if sel == a {
			return sel, nil
		}
	}
	return "", invalid("unsupported select value %q", sel)
}

func getCluster(w http.ResponseWriter, r *http.Request, c *simCluster) {
	c.mu.Lock()
	v := clusterJSON{Name: c.cfg.Name, Status: c.clusterStatus()}
	c.mu.Unlock()
	writeOK(w, "cluster", v)
}

func getToratio(w http.ResponseWriter, r *http.Request, c *simCluster) {
	c.mu.Lock()
	v := toratioJSON{Toratio: c.toratio}
	c.mu.Unlock()
	writeOK(w, "cluster", v)
}

func getServers(w http.ResponseWriter, r *http.Request, c *simCluster) {
	sel, e := selectParam(r, "name")
	if e != nil {
		writeError(w, e)
		return
	}
	idx := make([]int, 0, len(c.servers))
	if name := r.PathValue("server"); name != "" {
		srv := c.serverByName[name]
		if srv == nil {
			writeError(w, notFound("server", name))
			return
		}
		idx = append(idx, srv.idx)
	} else {
		for i := range c.servers {
			idx = append(idx, i)
		}
	}
	if sel == "name" {
		out := make([]nameJSON, len(idx))
		for k, i := range idx {
			out[k] = nameJSON{Name: c.servers[i].name}
		}
		writeOK(w, "servers", out)
		return
	}
	out := make([]serverJSON, len(idx))
	c.mu.Lock()
	for k, i := range idx {
		out[k] = serverJSON{Name: c.servers[i].name, Status: c.serverStatus(i)}
	}
	c.mu.Unlock()
	writeOK(w, "servers", out)
}

// getGroups serves GET /api/v1/groups and /groups/{group}, with ?select=name or
// ?select=resources on either (NEC's client makes the group name optional with resources).
func getGroups(w http.ResponseWriter, r *http.Request, c *simCluster) {
	name := r.PathValue("group")
	sel, e := selectParam(r, "name", "resources")
	if e != nil {
		writeError(w, e)
		return
	}
	groups := c.groups
	if name != "" {
		g := c.groupByName[name]
		if g == nil {
			writeError(w, notFound("group", name))
			return
		}
		groups = []*group{g}
	}
	switch sel {
	case "name":
		out := make([]nameJSON, len(groups))
		for k, g := range groups {
			out[k] = nameJSON{Name: g.cfg.Name}
		}
		writeOK(w, "groups", out)
		return
	case "resources":
		out := make([]groupResourcesJSON, len(groups))
		for k, g := range groups {
			out[k] = groupResourcesJSON{Name: g.cfg.Name, Resources: resourceNames(g)}
		}
		writeOK(w, "groups", out)
		return
	}
	out := make([]groupJSON, len(groups))
	c.mu.Lock()
	for k, g := range groups {
		status, current := c.groupStatus(g)
		out[k] = groupJSON{Name: g.cfg.Name, Status: status, Current: current, Resources: resourceNames(g)}
	}
	c.mu.Unlock()
	writeOK(w, "groups", out)
}

func resourceNames(g *group) []nameJSON {
	out := make([]nameJSON, len(g.resources))
	for i, r := range g.resources {
		out[i] = nameJSON{Name: r.name}
	}
	return out
}

func getResources(w http.ResponseWriter, r *http.Request, c *simCluster) {
	sel, e := selectParam(r, "name")
	if e != nil {
		writeError(w, e)
		return
	}
	res := c.resources
	if name := r.PathValue("resource"); name != "" {
		rs := c.resByName[name]
		if rs == nil {
			writeError(w, notFound("resource", name))
			return
		}
		res = []*resource{rs}
	}
	if sel == "name" {
		out := make([]nameJSON, len(res))
		for k, rs := range res {
			out[k] = nameJSON{Name: rs.name}
		}
		writeOK(w, "resources", out)
		return
	}
	out := make([]resourceJSON, len(res))
	c.mu.Lock()
	for k, rs := range res {
		status, current := c.resourceStatus(rs)
		out[k] = resourceJSON{Name: rs.name, Type: rs.typ, Status: status, Current: current, Group: rs.g.cfg.Name}
	}
	c.mu.Unlock()
	writeOK(w, "resources", out)
}

func getMonitors(w http.ResponseWriter, r *http.Request, c *simCluster) {
	sel, e := selectParam(r, "name")
	if e != nil {
		writeError(w, e)
		return
	}
	mons := c.monitors
	if name := r.PathValue("monitor"); name != "" {
		m := c.monByName[name]
		if m == nil {
			writeError(w, notFound("monitor", name))
			return
		}
		mons = []*monitor{m}
	}
	if sel == "name" {
		out := make([]nameJSON, len(mons))
		for k, m := range mons {
			out[k] = nameJSON{Name: m.name}
		}
		writeOK(w, "monitors", out)
		return
	}
	out := make([]monitorJSON, len(mons))
	c.mu.Lock()
	for k, m := range mons {
		status, per := c.monitorStatus(m)
		mj := monitorJSON{Name: m.name, Type: m.typ, Status: status, Servers: make([]serverJSON, len(per))}
		for i, st := range per {
			mj.Servers[i] = serverJSON{Name: c.servers[i].name, Status: st}
		}
		out[k] = mj
	}
	c.mu.Unlock()
	writeOK(w, "monitors", out)
}

// targetBody is the body of the operations that take a target server.
type targetBody struct {
	Target *string `json:"target"`
}

// readBody decodes an optional JSON body into v; an empty body leaves v untouched.
func readBody(r *http.Request, v any) *apiError {
	data, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		return invalid("read request body: %v", err)
	}
	if len(data) > maxBody {
		return invalid("request body larger than %d bytes", maxBody)
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil
	}
	if err := json.Unmarshal(data, v); err != nil {
		return invalid("request body is not valid JSON: %v", err)
	}
	return nil
}

// readTarget returns the target server of the body: -1 when absent (an error if required), an
// error when it names no server of the cluster.
func readTarget(r *http.Request, c *simCluster, required bool) (int, *apiError) {
	var body targetBody
	if e := readBody(r, &body); e != nil {
		return -1, e
	}
	if body.Target == nil || *body.Target == "" {
		if required {
			return -1, invalid("target is required")
		}
		return -1, nil
	}
	srv := c.serverByName[*body.Target]
	if srv == nil {
		return -1, invalid("target server %q is not a server of cluster %q", *body.Target, c.cfg.Name)
	}
	return srv.idx, nil
}
