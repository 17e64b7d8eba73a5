// Package ui is the web console every master serves on its HTTP port under /ui/ (issue 17,
// docs/console.md): a page, a small script and a style sheet embedded in the binary, and the
// JSON and server-sent-event endpoints under /ui/api/ that the script calls.
//
// The console holds no state and no privilege of its own. Every read and every action is a call
// of this master's own gRPC API (Config.API), made with the token the browser sends, so it goes
// through exactly the interceptors csetctl's calls go through: authentication and roles (auth.go),
// request limits, the event log of writes, and forwarding to the leader on a follower. Reads are
// local, as csetctl's are unless --consistent.
package ui

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	apiv1 "github.com/cset-project/cset/proto/cset/api/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

//go:embed static/*
var static embed.FS

// CSRFHeader must be sent, with the value "1", on every POST: a form of another site cannot set
// it, and a script of another origin cannot send it without a CORS preflight, which the console
// never grants.
const CSRFHeader = "X-Cset-Console"

const (
	readTimeout   = 10 * time.Second
	actionTimeout = 60 * time.Second // a write may wait for the leader (RPCHoldTimeout)
	maxBodyBytes  = 4 << 10
	// keepAlive is how often an idle event stream sends a comment, so proxies and the browser see
	// it alive and a closed one is noticed.
	keepAlive = 15 * time.Second
)

// Config is what the console needs of its master.
type Config struct {
	// API is a connection to this master's own gRPC API (server.consoleConn).
	API grpc.ClientConnInterface
	// Auth is -auth: a request without a token is refused with 401 here, so that the console
	// asks for one, before anything reaches the API.
	Auth bool
	// NodeID names this master on the page.
	NodeID string
}

type handler struct {
	cfg    Config
	client apiv1.ClusterSetServiceClient
	mux    *http.ServeMux
}

// New returns the console's handler; mount it at /ui/.
func New(cfg Config) http.Handler {
	h := &handler{cfg: cfg, client: apiv1.NewClusterSetServiceClient(cfg.API), mux: http.NewServeMux()}
	files, _ := fs.Sub(static, "static")
	h.mux.HandleFunc("GET /ui/{$}", h.index)
	h.mux.Handle("GET /ui/static/", http.StripPrefix("/ui/static/", http.FileServerFS(files)))
	h.mux.HandleFunc("GET /ui/api/session", h.session)
	h.mux.HandleFunc("GET /ui/api/overview", h.overview)
	h.mux.HandleFunc("GET /ui/api/workloads/{name}", h.workload)
	h.mux.HandleFunc("GET /ui/api/events", h.events)
	h.mux.HandleFunc("POST /ui/api/workloads/{name}/move", h.move)
	h.mux.HandleFunc("POST /ui/api/workloads/{name}/desired", h.desired)
	h.mux.HandleFunc("POST /ui/api/members/{name}/admin", h.admin)
	h.mux.HandleFunc("POST /ui/api/members/{name}/down", h.down)
	return h
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'none'; base-uri 'none'")
	if strings.HasPrefix(r.URL.Path, "/ui/api/") {
		hd.Set("Cache-Control", "no-store")
		if r.Method == http.MethodPost {
			if err := checkCSRF(r); err != nil {
				writeError(w, http.StatusForbidden, "Forbidden", err.Error())
				return
			}
			r.Body = http.MaxBytesReader(w, r.Body, maxBodyBytes)
		}
	}
	h.mux.ServeHTTP(w, r)
}

// checkCSRF refuses a POST that a page of another origin could have made: it must carry
// CSRFHeader and a JSON body, and the browser's own statements (Sec-Fetch-Site, Origin) must not
// name another site.
func checkCSRF(r *http.Request) error {
	if r.Header.Get(CSRFHeader) != "1" {
		return errors.New("missing header " + CSRFHeader + ": 1 (the console sends it; other sites cannot)")
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		return errors.New("the body must be application/json")
	}
	if s := r.Header.Get("Sec-Fetch-Site"); s != "" && s != "same-origin" && s != "none" {
		return errors.New("cross-site request refused (Sec-Fetch-Site: " + s + ")")
	}
	if o := r.Header.Get("Origin"); o != "" {
		u, err := url.Parse(o)
		if err != nil || u.Host != r.Host {
			return errors.New("cross-origin request refused (Origin " + o + ")")
		}
	}
	return nil
}

func (h *handler) index(w http.ResponseWriter, r *http.Request) {
	b, err := static.ReadFile("static/index.html")
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	_, _ = w.Write(b)
}

// callContext returns the context of an API call made for r: the bearer token of r as the call's
// authorization and, for the event log without -auth, the actor "console@<client address>". ok
// is false (and 401 answered) when -auth is on and r carries no token.
func (h *handler) callContext(w http.ResponseWriter, r *http.Request) (md metadata.MD, ok bool) {
	md = metadata.MD{}
	if auth := r.Header.Get("Authorization"); auth != "" {
		md.Set(apiv1.MetadataAuthorization, auth)
	} else if h.cfg.Auth {
		writeError(w, http.StatusUnauthorized, codes.Unauthenticated.String(), "this master runs with -auth: enter a cset API token (role read to look, operate to act)")
		return nil, false
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	md.Set(apiv1.MetadataActor, "console@"+host)
	return md, true
}

func (h *handler) session(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, map[string]any{"auth": h.cfg.Auth, "node": h.cfg.NodeID, "token": r.Header.Get("Authorization") != ""})
}

// overview answers the set at a glance: Status, the members, the workloads, the operations and
// the ECX servers with the groups they run, from this master's state.
func (h *handler) overview(w http.ResponseWriter, r *http.Request) {
	md, ok := h.callContext(w, r)
	if !ok {
		return
	}
	ctx, cancel := withTimeout(r, md, readTimeout)
	defer cancel()
	st, err := h.client.Status(ctx, &apiv1.StatusRequest{})
	if err != nil {
		writeGRPCError(w, err)
		return
	}
	ms, err := h.client.ListMembers(ctx, &apiv1.ListRequest{})
	if err != nil {
		writeGRPCError(w, err)
		return
	}
	ws, err := h.client.ListWorkloads(ctx, &apiv1.ListRequest{})
	if err != nil {
		writeGRPCError(w, err)
		return
	}
	ops, err := h.client.ListOperations(ctx, &apiv1.ListRequest{})
	if err != nil {
		writeGRPCError(w, err)
		return
	}
	nodes, err := h.client.ListNodes(ctx, &apiv1.ListRequest{})
	if err != nil {
		writeGRPCError(w, err)
		return
	}
	writeJSON(w, map[string]json.RawMessage{"status": pj(st), "members": pj(ms), "workloads": pj(ws), "operations": pj(ops), "nodes": pj(nodes)})
}

// workload answers a workload's page: the workload, its placement ranking and its history.
func (h *handler) workload(w http.ResponseWriter, r *http.Request) {
	md, ok := h.callContext(w, r)
	if !ok {
		return
	}
	ctx, cancel := withTimeout(r, md, readTimeout)
	defer cancel()
	name := r.PathValue("name")
	wl, err := h.client.GetWorkload(ctx, &apiv1.GetRequest{Name: name})
	if err != nil {
		writeGRPCError(w, err)
		return
	}
	out := map[string]json.RawMessage{"workload": pj(wl)}
	if pl, err := h.client.PlaceWorkload(ctx, &apiv1.GetRequest{Name: name}); err == nil {
		out["placement"] = pj(pl)
	} else {
		out["placement_error"], _ = json.Marshal(status.Convert(err).Message())
	}
	evs, err := h.client.ListEvents(ctx, &apiv1.ListEventsRequest{Workload: name, Limit: 200})
	if err != nil {
		writeGRPCError(w, err)
		return
	}
	out["events"] = pj(evs)
	writeJSON(w, out)
}

// events streams the event log as server-sent events (WatchEvents): the newest `limit` (default
// 100) first, or those after Last-Event-ID / after when the browser reconnects, then each new one.
// Optional filters: workload, member. Each event is one "data:" line of JSON with its seq as id.
func (h *handler) events(w http.ResponseWriter, r *http.Request) {
	md, ok := h.callContext(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	req := &apiv1.ListEventsRequest{Workload: q.Get("workload"), Member: q.Get("member"), Limit: 100}
	after := q.Get("after")
	if id := r.Header.Get("Last-Event-ID"); id != "" {
		after = id
	}
	if after != "" {
		seq, err := strconv.ParseUint(after, 10, 64)
		if err != nil {
			writeError(w, http.StatusBadRequest, codes.InvalidArgument.String(), "after: not an event sequence number")
			return
		}
		req.AfterSeq, req.Limit = seq, 0
	}
	ctx, cancel := withTimeout(r, md, 0)
	defer cancel()
	stream, err := h.client.WatchEvents(ctx, req)
	if err != nil {
		writeGRPCError(w, err)
		return
	}
	// The first event (or the error) tells whether the stream was accepted (auth is checked when
	// the stream starts), before the 200 is sent.
	type recv struct {
		ev  *apiv1.Event
		err error
	}
	ch := make(chan recv)
	go func() {
		for {
			ev, err := stream.Recv()
			select {
			case ch <- recv{ev, err}:
			case <-ctx.Done():
				return
			}
			if err != nil {
				return
			}
		}
	}()
	rc := http.NewResponseController(w)
	_ = rc.SetWriteDeadline(time.Time{}) // a stream outlives the server's write timeout
	started := false
	start := func() {
		if !started {
			started = true
			w.Header().Set("Content-Type", "text/event-stream")
			w.WriteHeader(http.StatusOK)
			_, _ = io.WriteString(w, ": cset events\n\n")
		}
	}
	tick := time.NewTicker(keepAlive)
	defer tick.Stop()
	// Start at once when nothing is pending: an empty log sends no first event.
	first := time.NewTimer(500 * time.Millisecond)
	defer first.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-first.C:
			start()
		case <-tick.C:
			start()
			_, _ = io.WriteString(w, ": keep-alive\n\n")
		case m := <-ch:
			if m.err != nil {
				if !started {
					writeGRPCError(w, m.err)
					return
				}
				_, _ = io.WriteString(w, "event: error\ndata: "+jsonString(status.Convert(m.err).Message())+"\n\n")
				_ = rc.Flush()
				return
			}
			start()
			_, _ = io.WriteString(w, "id: "+jsonUint(m.ev.GetSeq())+"\ndata: "+string(pj(m.ev))+"\n\n")
		}
		if err := rc.Flush(); err != nil {
			return
		}
	}
}

type moveBody struct {
	Member string `json:"member"`
	Server string `json:"server"`
	Force  bool   `json:"force"`
}

func (h *handler) move(w http.ResponseWriter, r *http.Request) {
	var b moveBody
	h.act(w, r, &b, func(ctx context.Context) (proto.Message, error) {
		return h.client.MoveWorkload(ctx, &apiv1.MoveWorkloadRequest{Name: r.PathValue("name"), ToMember: b.Member, ToServer: b.Server, Force: b.Force})
	})
}

func (h *handler) desired(w http.ResponseWriter, r *http.Request) {
	var b struct {
		Desired string `json:"desired"`
	}
	h.act(w, r, &b, func(ctx context.Context) (proto.Message, error) {
		return h.client.SetWorkloadDesired(ctx, &apiv1.SetWorkloadDesiredRequest{Name: r.PathValue("name"), Desired: b.Desired})
	})
}

func (h *handler) admin(w http.ResponseWriter, r *http.Request) {
	var b struct {
		Admin string `json:"admin"`
	}
	h.act(w, r, &b, func(ctx context.Context) (proto.Message, error) {
		return h.client.SetMemberAdmin(ctx, &apiv1.SetMemberAdminRequest{Name: r.PathValue("name"), Admin: b.Admin})
	})
}

func (h *handler) down(w http.ResponseWriter, r *http.Request) {
	var b struct{}
	h.act(w, r, &b, func(ctx context.Context) (proto.Message, error) {
		return h.client.DeclareMemberDown(ctx, &apiv1.GetRequest{Name: r.PathValue("name")})
	})
}

// act decodes the JSON body of an action into body and makes the call, answering its result
// as JSON or its error with the HTTP status of its gRPC code.
func (h *handler) act(w http.ResponseWriter, r *http.Request, body any, call func(context.Context) (proto.Message, error)) {
	md, ok := h.callContext(w, r)
	if !ok {
		return
	}
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(body); err != nil && !errors.Is(err, io.EOF) {
		writeError(w, http.StatusBadRequest, codes.InvalidArgument.String(), "request body: "+err.Error())
		return
	}
	c, cancel := withTimeout(r, md, actionTimeout)
	defer cancel()
	resp, err := call(c)
	if err != nil {
		writeGRPCError(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(pj(resp))
}
