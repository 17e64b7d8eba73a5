package apiv1

import (
	"fmt"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// ErrorDomain is the domain of the ErrorInfo details the masters attach to their errors.
const ErrorDomain = "cset.api.v1"

// ReasonNotApplied marks an error that proves the call changed nothing (the master that got it
// is not the leader, or no leader is elected): it may be sent again, to the leader, whatever the
// method. An Unavailable without it may have been applied: only a method that declares itself
// retryable (MethodSpec.Retryable, with its request id for a write) is sent again.
const ReasonNotApplied = "NOT_APPLIED"

// NotApplied returns an Unavailable status error with message msg and the ReasonNotApplied
// detail.
func NotApplied(format string, args ...any) error {
	st := status.New(codes.Unavailable, fmt.Sprintf(format, args...))
	if d, err := st.WithDetails(&errdetails.ErrorInfo{Reason: ReasonNotApplied, Domain: ErrorDomain}); err == nil {
		st = d
	}
	return st.Err()
}

// IsNotApplied reports whether err carries the ReasonNotApplied detail.
func IsNotApplied(err error) bool {
	st, ok := status.FromError(err)
	if !ok {
		return false
	}
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok && info.GetDomain() == ErrorDomain && info.GetReason() == ReasonNotApplied {
			return true
		}
	}
	return false
}
