// Package recovery turns a panic in a long-lived goroutine into an error
// for the one stream that caused it, logged with a stack, so one bad
// stream never takes the gateway down.
package recovery

import (
	"fmt"
	"log/slog"
	"runtime/debug"
)

// PanicError is a recovered panic.
type PanicError struct {
	Where string
	Value any
}

func (e *PanicError) Error() string {
	return fmt.Sprintf("internal error in %s (recovered panic: %v)", e.Where, e.Value)
}

// As recovers a panic into *err; use it deferred.
func As(err *error, log *slog.Logger, where string) {
	if r := recover(); r != nil {
		log.Error("recovered panic", "in", where, "panic", r, "stack", string(debug.Stack()))
		*err = &PanicError{Where: where, Value: r}
	}
}

// Call runs fn, returning a panic in it as an error.
func Call(log *slog.Logger, where string, fn func() error) (err error) {
	defer As(&err, log, where)
	return fn()
}
