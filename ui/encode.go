package ui

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// withTimeout returns the context of an API call for r with the outgoing metadata md; no
// deadline when d is 0.
func withTimeout(r *http.Request, md metadata.MD, d time.Duration) (context.Context, context.CancelFunc) {
	c := metadata.NewOutgoingContext(r.Context(), md)
	if d == 0 {
		return context.WithCancel(c)
	}
	return context.WithTimeout(c, d)
}

var marshal = protojson.MarshalOptions{UseProtoNames: true, EmitUnpopulated: true}

// pj encodes a message of the API as JSON with the field names of api.proto.
func pj(m proto.Message) json.RawMessage {
	b, err := marshal.Marshal(m)
	if err != nil {
		b, _ = json.Marshal(map[string]string{"error": err.Error()})
	}
	return b
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func jsonUint(n uint64) string { return strconv.FormatUint(n, 10) }

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// apiError is the body of every error answer: {"code": "PermissionDenied", "error": "..."}.
type apiError struct {
	Code  string `json:"code"`
	Error string `json:"error"`
}

func writeError(w http.ResponseWriter, httpStatus int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(httpStatus)
	_ = json.NewEncoder(w).Encode(apiError{Code: code, Error: msg})
}

// httpStatus maps a gRPC code to the HTTP status the console answers with.
var httpStatus = map[codes.Code]int{
	codes.InvalidArgument:    http.StatusBadRequest,
	codes.OutOfRange:         http.StatusBadRequest,
	codes.Unauthenticated:    http.StatusUnauthorized,
	codes.PermissionDenied:   http.StatusForbidden,
	codes.NotFound:           http.StatusNotFound,
	codes.AlreadyExists:      http.StatusConflict,
	codes.FailedPrecondition: http.StatusConflict,
	codes.Aborted:            http.StatusConflict,
	codes.ResourceExhausted:  http.StatusTooManyRequests,
	codes.Unavailable:        http.StatusServiceUnavailable,
	codes.DeadlineExceeded:   http.StatusGatewayTimeout,
	codes.Canceled:           499,
	codes.Unimplemented:      http.StatusNotImplemented,
}

func writeGRPCError(w http.ResponseWriter, err error) {
	st := status.Convert(err)
	code, ok := httpStatus[st.Code()]
	if !ok {
		code = http.StatusInternalServerError
	}
	if st.Code() == codes.Unauthenticated {
		w.Header().Set("WWW-Authenticate", `Bearer realm="cset-console"`)
	}
	writeError(w, code, st.Code().String(), st.Message())
}
