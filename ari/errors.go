package ari

import (
	"context"
	"errors"
	"fmt"
	"net"
)

// Errors returned (wrapped) by the REST methods; test with errors.Is.
var (
	// ErrNotFound: ARI answered 404, usually because the channel, bridge or
	// playback is already gone (very common in hangup races).
	ErrNotFound = errors.New("not found")
	// ErrConflict: ARI answered 409, e.g. the channel is not in the Stasis
	// application or the bridge already exists.
	ErrConflict = errors.New("conflict")
	// ErrUnavailable: ARI could not be reached or did not answer in time
	// (connection refused, timeout, 503).
	ErrUnavailable = errors.New("ARI unavailable")
	// ErrMailboxClosed is returned by Mailbox.Next after Close.
	ErrMailboxClosed = errors.New("mailbox closed")
)

// Request results, the "result" label of the Requests histogram.
const (
	resultOK       = "ok"
	resultNotFound = "not_found"
	resultError    = "error"
	resultTimeout  = "timeout"
)

// classify maps an error of the native client (or of the caller's context)
// to one of our sentinel errors (nil when none applies) and a metrics result.
func classify(err error) (sentinel error, result string) {
	if err == nil {
		return nil, resultOK
	}
	var (
		code    int
		timeout bool
		netErr  bool
	)
	walkErr(err, func(e error) bool {
		if c, ok := e.(interface{ Code() int }); ok && code == 0 {
			code = c.Code()
		}
		if e == context.DeadlineExceeded { //nolint:errorlint // walking the chain ourselves
			timeout = true
		}
		if ne, ok := e.(net.Error); ok { //nolint:errorlint // walking the chain ourselves
			netErr = true
			timeout = timeout || ne.Timeout()
		}
		if _, ok := e.(*net.OpError); ok { //nolint:errorlint // walking the chain ourselves
			netErr = true
		}
		return true
	})
	switch {
	case code == 404:
		return ErrNotFound, resultNotFound
	case code == 409:
		return ErrConflict, resultError
	case code == 503:
		return ErrUnavailable, resultError
	case code != 0:
		return nil, resultError
	case timeout:
		return ErrUnavailable, resultTimeout
	case netErr:
		return ErrUnavailable, resultError
	}
	return nil, resultError
}

// walkErr visits err and its causes depth first. It follows Unwrap() error,
// Unwrap() []error and Cause() error: the native client wraps with eris and
// with its own errDataGet, which only has Cause, so errors.As would stop
// short of the status code.
func walkErr(err error, visit func(error) bool) {
	for depth := 0; err != nil && depth < 32; depth++ {
		if !visit(err) {
			return
		}
		switch e := err.(type) { //nolint:errorlint // walking the chain ourselves
		case interface{ Unwrap() []error }:
			for _, sub := range e.Unwrap() {
				walkErr(sub, visit)
			}
			return
		case interface{ Unwrap() error }:
			err = e.Unwrap()
		case interface{ Cause() error }:
			err = e.Cause()
		default:
			return
		}
	}
}

// opError builds the error returned by a REST method: it names the
// operation and the resource, and wraps the sentinel (if any) and the cause.
func opError(op, id string, sentinel, cause error) error {
	what := op
	if id != "" {
		what = fmt.Sprintf("%s %q", op, id)
	}
	if sentinel != nil && !errors.Is(cause, sentinel) {
		return fmt.Errorf("ari %s: %w: %w", what, sentinel, cause)
	}
	return fmt.Errorf("ari %s: %w", what, cause)
}
