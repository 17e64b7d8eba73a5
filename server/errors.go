package server

import (
	"context"
	"errors"
	"fmt"

	"github.com/cset-project/cset/fsm"
	apiv1 "github.com/cset-project/cset/proto/cset/api/v1"
	"github.com/hashicorp/raft"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Sentinel errors of this package; errorToStatus maps them to gRPC codes in one place.
var (
	ErrNoLeader = errors.New("no leader is elected: a majority of masters must be running and reachable; check 'csetctl raft peers' on each master")
	// ErrUnknownOutcome means the entry was handed to Raft but leadership was lost before it
	// was known to commit: retrying with the same request id is safe.
	ErrUnknownOutcome = errors.New("leadership was lost while the change was being committed; its outcome is unknown: retry with the same request id (csetctl does) and it is applied at most once")
)

// errorToStatus converts an error of the FSM, Raft or the forwarding path to a gRPC status
// error. Handlers that refuse a request themselves (validation, limits, admission) build their
// status where they decide, with a message that says what to change.
func errorToStatus(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	var fe *fsm.Error
	if errors.As(err, &fe) {
		switch fe.Code {
		case fsm.CodeInvalidArgument:
			return status.Error(codes.InvalidArgument, fe.Msg)
		case fsm.CodeNotFound:
			return status.Error(codes.NotFound, fe.Msg)
		case fsm.CodeAlreadyExists:
			return status.Error(codes.AlreadyExists, fe.Msg)
		case fsm.CodeFailedPrecondition:
			return status.Error(codes.FailedPrecondition, fe.Msg)
		}
	}
	switch {
	case errors.Is(err, ErrNoLeader), errors.Is(err, ErrNoLeaderHere), errors.Is(err, raft.ErrNotLeader):
		// Nothing was applied: the detail lets a forwarding master and csetctl send it again.
		return apiv1.NotApplied("%s", err.Error())
	case errors.Is(err, ErrUnknownOutcome), errors.Is(err, raft.ErrLeadershipLost),
		errors.Is(err, raft.ErrLeadershipTransferInProgress), errors.Is(err, raft.ErrRaftShutdown), errors.Is(err, raft.ErrEnqueueTimeout):
		return status.Error(codes.Unavailable, err.Error())
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, err.Error())
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, err.Error())
	}
	return status.Error(codes.Internal, err.Error())
}

func invalid(format string, args ...any) error {
	return status.Error(codes.InvalidArgument, fmt.Sprintf(format, args...))
}

func failedPrecondition(format string, args ...any) error {
	return status.Error(codes.FailedPrecondition, fmt.Sprintf(format, args...))
}
