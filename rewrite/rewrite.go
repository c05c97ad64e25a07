// Package rewrite holds the modes of the pgx-tenant driver's rewrite
// (tenant_rewrite): instead of refusing a statement that reads or writes a
// tenant-owned table without a tenant predicate, the driver adds one.
//
// With tenant_rewrite=on, every reference to a tenant-owned table that no
// predicate of the statement scopes gets "tenant_id = $n", where $n is one
// parameter appended to the statement and bound by the driver to the
// context's tenant (never a literal: the rewritten text is the same for
// every tenant, so statement caches and plans are shared). The predicate
// goes where it keeps the statement's meaning: the WHERE of the query block
// for inner references, the ON of an outer join for its nullable side, a
// sub-select of its own for a FULL JOIN's sides and a MERGE source. An
// INSERT that leaves out the tenant column gets it, valued $n. References
// that a predicate already scopes are left alone; a predicate or an
// inserted value naming another tenant, or an UPDATE of the tenant
// column, is a guard violation, not rewritten.
//
// The rewritten text is produced by PostgreSQL's deparser (pg_query) from
// the parse the guard analyses, once per text (once per shape for texts
// with inlined values) and cached. It loses the text's comments and
// formatting; pgx named arguments (@name) are kept.
//
// With tenant_rewrite=audit the statement runs as written and an event
// (event.Rewrite) carries the rewritten SQL for review.
package rewrite

import (
	"fmt"
	"strconv"
	"strings"
)

// Mode is what the driver does with a statement the rewrite would change.
type Mode int

const (
	// Off: statements run as written (the default).
	Off Mode = iota
	// Audit: the statement runs as written; an event carries the
	// rewritten SQL.
	Audit
	// On: the rewritten statement runs in place of the original.
	On
)

func (m Mode) String() string {
	switch m {
	case Off:
		return "off"
	case Audit:
		return "audit"
	case On:
		return "on"
	}
	return "Mode(" + strconv.Itoa(int(m)) + ")"
}

// ParseMode reads off, audit or on (any case).
func ParseMode(s string) (Mode, error) {
	switch strings.ToLower(s) {
	case "off":
		return Off, nil
	case "audit":
		return Audit, nil
	case "on":
		return On, nil
	}
	return Off, fmt.Errorf("must be off, audit or on, not %q", s)
}
