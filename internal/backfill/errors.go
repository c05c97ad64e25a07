package backfill

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// RowSecurityError is returned when Row-Level Security applies to the
// connected role on a table the backfill reads: the policies would hide
// the rows whose tenant is NULL (no policy matches them), so counting or
// filling them is impossible. It names the role it needs.
type RowSecurityError struct {
	// Role is the connected role (current_user).
	Role string
	// Tables are the tables RLS applies to it on (when found by NewPlan's
	// check; empty when the server refused a statement).
	Tables []RowSecurityTable
	// Err is the server's refusal, when it came from one (SQLSTATE 42501
	// under row_security = off), reachable with errors.As as a
	// *pgconn.PgError.
	Err error
}

// RowSecurityTable is one table RLS applies to the role on.
type RowSecurityTable struct {
	Table, Owner string
	// Forced: FORCE ROW LEVEL SECURITY, which makes RLS apply to the owner.
	Forced, Owned bool
}

func (e *RowSecurityError) Error() string {
	var b strings.Builder
	b.WriteString("backfill: row-level security applies to role ")
	if e.Role != "" {
		b.WriteString(pgx.Identifier{e.Role}.Sanitize())
	} else {
		b.WriteString("of this connection")
	}
	if len(e.Tables) > 0 {
		var ts []string
		for _, t := range e.Tables {
			switch {
			case t.Owned:
				ts = append(ts, t.Table+" (FORCE ROW LEVEL SECURITY: even its owner is filtered)")
			default:
				ts = append(ts, fmt.Sprintf("%s (owned by %s)", t.Table, t.Owner))
			}
		}
		b.WriteString(" on " + strings.Join(ts, ", "))
	}
	if e.Err != nil {
		b.WriteString(" (" + e.Err.Error() + ")")
	}
	b.WriteString(`: its policies hide the rows whose tenant is NULL, so the backfill can neither count nor fill them.` +
		` Connect as a superuser or a role with BYPASSRLS (ALTER ROLE … BYPASSRLS) that may update and alter the tables,` +
		` or as the tables' owner once they are not FORCEd (ALTER TABLE … NO FORCE ROW LEVEL SECURITY)`)
	return b.String()
}

func (e *RowSecurityError) Unwrap() error { return e.Err }

// rowSecurityFromServer returns a *RowSecurityError when err is the
// server's refusal to run a query RLS would filter under row_security =
// off, else nil.
func rowSecurityFromServer(err error) *RowSecurityError {
	var pg *pgconn.PgError
	if errors.As(err, &pg) && pg.Code == "42501" && strings.Contains(pg.Message, "row-level security") {
		return &RowSecurityError{Err: pg}
	}
	return nil
}

// checkRowSecurity returns a *RowSecurityError when RLS applies to the
// current role on any of tables. The server would refuse such a query
// anyway under row_security = off; this names every table at once, before
// anything runs.
func checkRowSecurity(ctx context.Context, conn *pgx.Conn, tables []*Table) error {
	var role string
	var bypass bool
	err := conn.QueryRow(ctx, `SELECT current_user::text, r.rolsuper OR r.rolbypassrls FROM pg_roles r WHERE r.rolname = current_user`).Scan(&role, &bypass)
	if err != nil {
		return fmt.Errorf("backfill: reading the current role: %w", err)
	}
	if bypass || len(tables) == 0 {
		return nil
	}
	byOID := map[uint32]*Table{}
	oids := make([]uint32, 0, len(tables))
	for _, t := range tables {
		byOID[t.oid] = t
		oids = append(oids, t.oid)
	}
	rows, err := conn.Query(ctx, `
		SELECT c.oid, c.relforcerowsecurity, pg_has_role(current_user, c.relowner, 'USAGE'), pg_get_userbyid(c.relowner)::text
		FROM pg_class c
		WHERE c.oid = ANY($1) AND c.relrowsecurity
		ORDER BY c.relname`, oids)
	if err != nil {
		return fmt.Errorf("backfill: reading row-level security: %w", err)
	}
	e := &RowSecurityError{Role: role}
	for rows.Next() {
		var oid uint32
		var rt RowSecurityTable
		if err := rows.Scan(&oid, &rt.Forced, &rt.Owned, &rt.Owner); err != nil {
			return fmt.Errorf("backfill: reading row-level security: %w", err)
		}
		if rt.Owned && !rt.Forced {
			continue // owners bypass RLS unless FORCEd
		}
		rt.Table = byOID[oid].String()
		e.Tables = append(e.Tables, rt)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("backfill: reading row-level security: %w", err)
	}
	if len(e.Tables) > 0 {
		return e
	}
	return nil
}

// UnresolvedError is returned by Apply when it stops at a table holding
// rows whose tenant it cannot derive. The tables before it are backfilled
// (and NOT NULL); this one has its resolvable rows filled; the tables after
// it are untouched.
type UnresolvedError struct {
	Table      *Table
	Unresolved []Unresolved
	// Untouched are the tables after Table, left as they were.
	Untouched []string
}

func (e *UnresolvedError) Error() string {
	var n int64
	var why []string
	for _, u := range e.Unresolved {
		n += u.Rows
		why = append(why, fmt.Sprintf("%d: %s", u.Rows, u.Reason))
	}
	return fmt.Sprintf("backfill: %s: %d rows whose %s cannot be derived (%s)", e.Table, n, e.Table.Column, strings.Join(why, "; "))
}

// ConflictError is returned by Apply when it stops before a table because
// a table its NULL tenants are derived from holds rows whose tenant is
// set and differs from the tenant of the row they reference: the NULLs
// would inherit a tenant that is contradicted, so the backfill does not
// pick. The tables before Table are backfilled; Table and the ones after
// are untouched.
type ConflictError struct {
	Table *Table
	// Parent is the table holding the conflicts.
	Parent    *Table
	Conflicts []Conflict
	// Untouched are the tables after Table, left as they were.
	Untouched []string
}

func (e *ConflictError) Error() string {
	var why []string
	for _, c := range e.Conflicts {
		why = append(why, fmt.Sprintf("%d through %s → %s, keys %s", c.Rows, c.Constraint, c.Parent, strings.Join(c.Sample, ", ")))
	}
	return fmt.Sprintf("backfill: %s: not filled: its %s is derived from %s, where rows have a %s that differs from the row they reference (%s): correct them, then run apply again",
		e.Table, e.Table.Column, e.Parent, e.Parent.Column, strings.Join(why, "; "))
}
