package tenant

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// MaxIDLen is the largest tenant ID, in bytes, that [Validate] accepts.
const MaxIDLen = 256

// ErrInvalidID is wrapped by the error [Validate] returns. The driver returns
// it (wrapped) when a context carries a tenant ID that fails validation.
var ErrInvalidID = errors.New("tenant: invalid tenant ID")

// key is unexported so no other package can collide with or forge the values.
type key int

const (
	idKey key = iota
	bypassKey
)

// NewContext returns a copy of ctx that carries the tenant id. The id is stored
// as given; the driver validates it with [Validate] when a statement runs.
func NewContext(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, idKey, id)
}

// FromContext returns the tenant ID carried by ctx and whether there was one.
// A context made by NewContext(ctx, "") reports ("", true): an explicit empty
// ID is an error for the driver, not the absence of a tenant.
func FromContext(ctx context.Context) (string, bool) {
	id, ok := ctx.Value(idKey).(string)
	return id, ok
}

// WithBypass returns a copy of ctx that will exempt its statements from the
// driver's guard and rewrite once those exist; today no part of the driver
// reads it, so it changes nothing and nothing is reported yet. reason says
// why (the guard will report it with every bypassed statement) and must not
// be empty; an empty reason is treated as no bypass at all. A bypass never
// disables Row-Level Security.
func WithBypass(ctx context.Context, reason string) context.Context {
	return context.WithValue(ctx, bypassKey, reason)
}

// BypassReason reports whether ctx was marked with [WithBypass] and, if so,
// with what reason.
func BypassReason(ctx context.Context) (string, bool) {
	reason, ok := ctx.Value(bypassKey).(string)
	if !ok || strings.TrimSpace(reason) == "" {
		return "", false
	}
	return reason, true
}

// Validate reports whether id is an acceptable tenant ID: not empty, valid
// UTF-8, without NUL bytes (PostgreSQL text cannot hold them), and at most
// [MaxIDLen] bytes long. The returned error wraps [ErrInvalidID] and never
// contains the ID itself, which may be attacker-controlled.
func Validate(id string) error {
	switch {
	case id == "":
		return fmt.Errorf("%w: empty", ErrInvalidID)
	case len(id) > MaxIDLen:
		return fmt.Errorf("%w: %d bytes, longer than %d", ErrInvalidID, len(id), MaxIDLen)
	case !utf8.ValidString(id):
		return fmt.Errorf("%w: not valid UTF-8", ErrInvalidID)
	case strings.IndexByte(id, 0) >= 0:
		return fmt.Errorf("%w: contains a NUL byte", ErrInvalidID)
	}
	return nil
}
