package eventagg

import (
	"errors"
	"fmt"
)

// Error codes. The HTTP layer maps each to one status (internal/httpapi),
// and the client maps statuses back, so both sides agree on one table.
const (
	EINVALID       = "invalid"       // the request or an event breaks a rule
	EUNPROCESSABLE = "unprocessable" // a lone event that parses but breaks a rule
	ETOOLARGE      = "too_large"     // a size or count limit is exceeded
	EUNSUPPORTED   = "unsupported"   // the body's content type is not one we read
	EUNAVAILABLE   = "unavailable"   // overloaded or store down: retry later
	ENOTFOUND      = "not_found"     // what was asked for does not exist
	EFORBIDDEN     = "forbidden"     // the API key may not do this (or not to this topic)
	ECONFLICT      = "conflict"      // a lone event whose key is taken by other content
	EINTERNAL      = "internal"      // a bug or an unexpected failure
)

// Error is the one error type the domain returns on purpose. Its Message is
// safe to show to a client; anything else is reported as internal.
type Error struct {
	Code    string
	Message string
}

func (e *Error) Error() string { return e.Message }

// Errorf returns an *Error with a formatted, client-safe message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of the first *Error in err's chain, EINTERNAL for
// any other non-nil error, and "" for nil.
func ErrorCode(err error) string {
	var e *Error
	switch {
	case err == nil:
		return ""
	case errors.As(err, &e):
		return e.Code
	default:
		return EINTERNAL
	}
}

// ErrorMessage returns the client-safe message of err. Errors that are not
// *Error are hidden behind a generic text so internals never leak.
func ErrorMessage(err error) string {
	var e *Error
	switch {
	case err == nil:
		return ""
	case errors.As(err, &e):
		return e.Message
	default:
		return "internal error"
	}
}

// ErrQueueFull is returned when the ingest queue has no room; publishers
// should retry after a short pause.
var ErrQueueFull = &Error{Code: EUNAVAILABLE, Message: "ingest queue is full, retry later"}

// ErrClosed is returned once the service is shutting down.
var ErrClosed = &Error{Code: EUNAVAILABLE, Message: "service is shutting down"}
