package ecxsim

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"
)

// The control API: HTTP + JSON over the methods of control.go. Every POST answers 200 {"ok":true}
// or an error status with {"error":"..."} (404 unknown name or path, 400 bad body, 405 wrong
// method, 500 anything else).

type controlError struct {
	Error string `json:"error"`
}

type okJSON struct {
	OK bool `json:"ok"`
}

type auditJSON struct {
	Records []AuditRecord `json:"records"`
}

type overlapJSON struct {
	Group string      `json:"group"`
	A     AuditRecord `json:"a"`
	B     AuditRecord `json:"b"`
}

type auditCheckJSON struct {
	OK       bool          `json:"ok"`
	Overlaps []overlapJSON `json:"overlaps"`
}

// LatencyRequest is the body of POST /sim/v1/clusters/{cluster}/latency.
type LatencyRequest struct {
	MS int64 `json:"ms"`
}

// ErrorRateRequest is the body of POST /sim/v1/clusters/{cluster}/errors.
type ErrorRateRequest struct {
	Rate float64 `json:"rate"`
}

// ErrorStyleRequest is the body of POST /sim/v1/clusters/{cluster}/error-style.
type ErrorStyleRequest struct {
	Style string `json:"style"`
}

// FailStartRequest is the body of POST /sim/v1/clusters/{cluster}/groups/{group}/fail-start.
type FailStartRequest struct {
	Enabled bool `json:"enabled"`
}

// SwitchRequest is the body of the control calls that switch a fault on or off:
// groups/{group}/fail-stop and servers/{server}/status-unknown.
type SwitchRequest struct {
	Enabled bool `json:"enabled"`
}

// ServiceRequest is the body of POST /sim/v1/clusters/{cluster}/groups/{group}/service: mode is
// ServiceOK, ServiceRefuse, ServiceTimeout or ServiceError.
type ServiceRequest struct {
	Mode string `json:"mode"`
}

var errBadRequest = errors.New("bad request")

func writeJSON(w http.ResponseWriter, status int, v any) {
	data, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		data, _ = json.Marshal(controlError{Error: err.Error()})
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(append(data, '\n'))
}

func writeControlResult(w http.ResponseWriter, err error) {
	switch {
	case err == nil:
		writeJSON(w, http.StatusOK, okJSON{OK: true})
	case errors.Is(err, ErrNotFound):
		writeJSON(w, http.StatusNotFound, controlError{Error: err.Error()})
	case errors.Is(err, errBadRequest):
		writeJSON(w, http.StatusBadRequest, controlError{Error: err.Error()})
	default:
		writeJSON(w, http.StatusInternalServerError, controlError{Error: err.Error()})
	}
}

// decodeControl decodes a required JSON body strictly.
func decodeControl(r *http.Request, v any) error {
	data, err := io.ReadAll(io.LimitReader(r.Body, maxBody))
	if err != nil {
		return fmt.Errorf("%w: read body: %v", errBadRequest, err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: body: %v", errBadRequest, err)
	}
	return nil
}

func (s *Sim) newControlMux() *http.ServeMux {
	m := http.NewServeMux()
	m.HandleFunc("GET /sim/v1/state", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, s.State())
	})
	m.HandleFunc("GET /sim/v1/audit", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, auditJSON{Records: s.Audit()})
	})
	m.HandleFunc("GET /sim/v1/audit/check", func(w http.ResponseWriter, r *http.Request) {
		out := auditCheckJSON{OK: true, Overlaps: []overlapJSON{}}
		var de *DoubleOnlineError
		if errors.As(CheckNoDoubleOnline(s.Audit()), &de) {
			out.OK = false
			for _, o := range de.Overlaps {
				out.Overlaps = append(out.Overlaps, overlapJSON{Group: o.Group, A: o.A, B: o.B})
			}
		}
		writeJSON(w, http.StatusOK, out)
	})
	m.HandleFunc("POST /sim/v1/clusters/{cluster}/{op}", s.controlCluster)
	m.HandleFunc("POST /sim/v1/clusters/{cluster}/servers/{server}/{op}", s.controlServer)
	m.HandleFunc("POST /sim/v1/clusters/{cluster}/groups/{group}/fail-start", func(w http.ResponseWriter, r *http.Request) {
		var req FailStartRequest
		err := decodeControl(r, &req)
		if err == nil {
			err = s.SetFailStart(r.PathValue("cluster"), r.PathValue("group"), req.Enabled)
		}
		writeControlResult(w, err)
	})
	m.HandleFunc("POST /sim/v1/clusters/{cluster}/groups/{group}/fail-stop", func(w http.ResponseWriter, r *http.Request) {
		var req SwitchRequest
		err := decodeControl(r, &req)
		if err == nil {
			err = s.SetFailStop(r.PathValue("cluster"), r.PathValue("group"), req.Enabled)
		}
		writeControlResult(w, err)
	})
	m.HandleFunc("POST /sim/v1/clusters/{cluster}/groups/{group}/service", func(w http.ResponseWriter, r *http.Request) {
		var req ServiceRequest
		err := decodeControl(r, &req)
		if err == nil {
			if !ValidServiceMode(req.Mode) {
				err = fmt.Errorf("%w: mode %q is unknown: %w", errBadRequest, req.Mode, errServiceMode)
			} else {
				err = s.SetServiceMode(r.PathValue("cluster"), r.PathValue("group"), req.Mode)
			}
		}
		writeControlResult(w, err)
	})
	m.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusNotFound, controlError{Error: fmt.Sprintf("%s %s: no such control call", r.Method, r.URL.Path)})
	})
	return m
}

func (s *Sim) controlCluster(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("cluster")
	var err error
	switch op := r.PathValue("op"); op {
	case "down":
		err = s.ClusterDown(name)
	case "up":
		err = s.ClusterUp(name)
	case "isolate":
		err = s.Isolate(name)
	case "isolate-one-way":
		err = s.IsolateOneWay(name)
	case "heal":
		err = s.Heal(name)
	case "guards-cut":
		err = s.CutGuards(name)
	case "guards-heal":
		err = s.HealGuards(name)
	case "witness-cut":
		err = s.CutWitness(name)
	case "witness-heal":
		err = s.HealWitness(name)
	case "interconnect-cut":
		err = s.CutInterconnect(name)
	case "interconnect-heal":
		err = s.HealInterconnect(name)
	case "latency":
		var req LatencyRequest
		if err = decodeControl(r, &req); err == nil {
			if req.MS < 0 {
				err = fmt.Errorf("%w: ms must not be negative", errBadRequest)
			} else {
				err = s.SetLatency(name, time.Duration(req.MS)*time.Millisecond)
			}
		}
	case "errors":
		var req ErrorRateRequest
		if err = decodeControl(r, &req); err == nil {
			if !(req.Rate >= 0 && req.Rate <= 1) {
				err = fmt.Errorf("%w: rate must be between 0 and 1", errBadRequest)
			} else {
				err = s.SetErrorRate(name, req.Rate)
			}
		}
	case "error-style":
		var req ErrorStyleRequest
		if err = decodeControl(r, &req); err == nil {
			if !ValidErrorStyle(req.Style) {
				err = fmt.Errorf("%w: style %q is unknown: use %q or %q", errBadRequest, req.Style, ErrorStyleHTTP, ErrorStyleEnvelope)
			} else {
				err = s.SetErrorStyle(name, req.Style)
			}
		}
	default:
		err = fmt.Errorf("control call %q: %w", op, ErrNotFound)
	}
	writeControlResult(w, err)
}

func (s *Sim) controlServer(w http.ResponseWriter, r *http.Request) {
	cluster, server := r.PathValue("cluster"), r.PathValue("server")
	var err error
	switch op := r.PathValue("op"); op {
	case "down":
		err = s.ServerDown(cluster, server)
	case "up":
		err = s.ServerUp(cluster, server)
	case "witness-cut":
		err = s.CutServerWitness(cluster, server)
	case "witness-heal":
		err = s.HealServerWitness(cluster, server)
	case "interconnect-cut":
		err = s.CutServerInterconnect(cluster, server)
	case "interconnect-heal":
		err = s.HealServerInterconnect(cluster, server)
	case "status-unknown":
		var req SwitchRequest
		if err = decodeControl(r, &req); err == nil {
			err = s.SetServerStatusUnknown(cluster, server, req.Enabled)
		}
	default:
		err = fmt.Errorf("control call %q: %w", op, ErrNotFound)
	}
	writeControlResult(w, err)
}
