package fsm

import (
	"errors"
	"fmt"
	"unicode/utf8"
)

// Code classifies a business-rule failure so the API can map it to a gRPC status in one place.
type Code string

// The codes an apply handler or a validator returns.
const (
	CodeInvalidArgument    Code = "invalid_argument"
	CodeNotFound           Code = "not_found"
	CodeAlreadyExists      Code = "already_exists"
	CodeFailedPrecondition Code = "failed_precondition"
)

// Error is a business-rule failure: identical on every master for the same entry and state.
type Error struct {
	Code Code
	Msg  string
}

func (e *Error) Error() string { return e.Msg }

// Is makes errors.Is(err, ErrNotFound) and friends work on any *Error with the same code.
func (e *Error) Is(target error) bool {
	var t *Error
	if errors.As(target, &t) {
		return t.Code == e.Code && t.Msg == ""
	}
	return false
}

// Sentinels for errors.Is; their messages are empty on purpose.
var (
	ErrInvalidArgument    = &Error{Code: CodeInvalidArgument}
	ErrNotFound           = &Error{Code: CodeNotFound}
	ErrAlreadyExists      = &Error{Code: CodeAlreadyExists}
	ErrFailedPrecondition = &Error{Code: CodeFailedPrecondition}
)

func invalidf(format string, args ...any) error {
	return &Error{Code: CodeInvalidArgument, Msg: fmt.Sprintf(format, clipArgs(args)...)}
}

func notFoundf(format string, args ...any) error {
	return &Error{Code: CodeNotFound, Msg: fmt.Sprintf(format, clipArgs(args)...)}
}

func existsf(format string, args ...any) error {
	return &Error{Code: CodeAlreadyExists, Msg: fmt.Sprintf(format, clipArgs(args)...)}
}

// maxEcho is the longest string argument an error message repeats in full: longer than any
// valid name. A longer one is a rejected value, cut to its start and its length, so that an
// oversized value is never echoed back (nor stored in the request table).
const maxEcho = 255

func clipArgs(args []any) []any {
	for i, a := range args {
		if s, ok := a.(string); ok && len(s) > maxEcho {
			cut := 64
			for cut > 0 && !utf8.RuneStart(s[cut]) {
				cut--
			}
			args[i] = fmt.Sprintf("%s... (%d bytes)", s[:cut], len(s))
		}
	}
	return args
}

func preconditionf(format string, args ...any) error {
	return &Error{Code: CodeFailedPrecondition, Msg: fmt.Sprintf(format, args...)}
}
