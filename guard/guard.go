// Package guard decides whether a statement is scoped to the context's
// tenant: every reference to a tenant-owned table must be constrained by an
// equality between its tenant column and the tenant. The pgx-tenant driver
// runs the decision on every statement when tenant_guard is audit or
// enforce; this package holds its modes, its typed error and the catalog of
// tenant-owned tables it decides with.
package guard

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"

	"github.com/pgx-tenant/pgx-tenant/internal/sqlcheck"
)

// Mode is what the guard does with an unscoped statement.
type Mode int

const (
	// Off: statements are not checked (the default).
	Off Mode = iota
	// Audit: the statement runs, and an event reports the violation.
	Audit
	// Enforce: the statement is refused with a *Violation before anything
	// is sent.
	Enforce
)

func (m Mode) String() string {
	switch m {
	case Off:
		return "off"
	case Audit:
		return "audit"
	case Enforce:
		return "enforce"
	}
	return "Mode(" + strconv.Itoa(int(m)) + ")"
}

// ParseMode reads off, audit or enforce (any case).
func ParseMode(s string) (Mode, error) {
	switch strings.ToLower(s) {
	case "off":
		return Off, nil
	case "audit":
		return Audit, nil
	case "enforce":
		return Enforce, nil
	}
	return Off, fmt.Errorf("must be off, audit or enforce, not %q", s)
}

// Rules a Violation reports. The decision (internal/sqlcheck) names them;
// these are its names.
const (
	// RuleUnscoped: a tenant-owned table is read, updated or deleted from
	// without an equality between its tenant column and the tenant.
	RuleUnscoped = sqlcheck.RuleUnscoped
	// RuleTenantMismatch: a literal or argument names another tenant.
	RuleTenantMismatch = sqlcheck.RuleTenantMismatch
	// RuleInsertTenant: an INSERT without the tenant (and no default that
	// reads the setting), or with a value that is not the tenant.
	RuleInsertTenant = sqlcheck.RuleInsertTenant
	// RuleUpdateTenant: an UPDATE of the tenant column.
	RuleUpdateTenant = sqlcheck.RuleUpdateTenant
	// RuleTruncate, RuleCopy, RuleLock: statements on a whole tenant-owned
	// table.
	RuleTruncate = sqlcheck.RuleTruncate
	RuleCopy     = sqlcheck.RuleCopy
	RuleLock     = sqlcheck.RuleLock
	// RuleHiddenView: a view over tenant-owned tables that hides the
	// tenant column, so no predicate can scope it.
	RuleHiddenView = sqlcheck.RuleHiddenView
	// RuleUnverifiable: SQL PREPARE/EXECUTE, whose values the text does
	// not show.
	RuleUnverifiable = sqlcheck.RuleUnverifiable
	// RuleSyntax: the parser rejects the text (enforce refuses it).
	RuleSyntax = "syntax"
)

// Violation is the error of a statement the guard refused (tenant_guard=
// enforce), and the finding an audit event reports. It names the rule, the
// table and where in the SQL, never argument values or data.
type Violation struct {
	Rule  string
	Table string // schema-qualified unless in public; "" for RuleSyntax
	// Pos is the byte offset in the SQL text of the reference or value
	// the rule is about.
	Pos int
	// Fingerprint identifies the statement text (see Fingerprint).
	Fingerprint string
	// Message says what is wrong and where.
	Message string
}

func (v *Violation) Error() string { return "pgx-tenant guard: " + v.Message }

// Is makes errors.Is(err, ErrViolation) true for every *Violation.
func (v *Violation) Is(target error) bool { return target == ErrViolation }

// ErrViolation matches every *Violation with errors.Is.
var ErrViolation = &Violation{Rule: "any", Message: "statement not scoped to the tenant"}

// NewViolation builds the Violation of a finding in sql: the rule, the
// table it is about, the byte offset and what is wrong.
func NewViolation(rule, table string, pos int, sql, detail string) *Violation {
	msg := detail
	if table != "" {
		msg = table + " " + detail
	}
	if pos >= 0 && pos <= len(sql) {
		if name := excerpt(sql, pos); name != "" {
			msg += fmt.Sprintf(" (at %d: %s)", pos, name)
		} else {
			msg += fmt.Sprintf(" (at %d)", pos)
		}
	}
	return &Violation{Rule: rule, Table: table, Pos: pos, Fingerprint: Fingerprint(sql), Message: msg + " [" + rule + "]"}
}

// excerpt returns the name written at pos, for messages: identifier
// characters only, so that no value — an inlined literal, say — is ever
// copied into a message.
func excerpt(sql string, pos int) string {
	end := pos
	for end < len(sql) && end-pos < 64 {
		c := sql[end]
		if c == '_' || c == '.' || c == '"' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' && end > pos {
			end++
			continue
		}
		break
	}
	return sql[pos:end]
}

// Fingerprint identifies a statement text in events and violations: the
// first 16 hex digits of the SHA-256 of the text with its constants
// replaced by ? and runs of white space collapsed. Texts that differ only
// in layout or in inlined values share it.
func Fingerprint(sql string) string {
	if r := sqlcheck.Redact(sql); r != "" {
		sql = r
	}
	// Runs of white space count as one space: the text is normalised into
	// one buffer and hashed at once.
	var buf [512]byte
	norm := buf[:0]
	space := false
	for i := 0; i < len(sql); i++ {
		c := sql[i]
		if c == ' ' || c == '\t' || c == '\n' || c == '\r' {
			space = true
			continue
		}
		if space {
			norm = append(norm, ' ')
			space = false
		}
		norm = append(norm, c)
	}
	sum := sha256.Sum256(norm)
	return hex.EncodeToString(sum[:8])
}
