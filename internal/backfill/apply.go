package backfill

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Progress is reported by Apply after each batch, and when a table is done.
type Progress struct {
	Table string
	// Done rows of Total (the NULL tenants counted when the table began)
	// are filled.
	Done, Total int64
	Elapsed     time.Duration
	// Finished: the table's last report.
	Finished bool
}

// RowsPerSecond is the fill rate so far.
func (p Progress) RowsPerSecond() float64 { return rate(p.Done, p.Elapsed) }

func rate(n int64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}

// Result is what Apply did.
type Result struct {
	// Tables are the tables Apply went through, in order, the one it
	// stopped at included.
	Tables []TableResult
	// Migrations are the index and foreign-key migrations still to run
	// after the backfill, read from the catalog once every table was done;
	// run by Apply when ConstraintsApplied.
	Migrations         []Migration
	ConstraintsApplied bool
}

// TableResult is what Apply did to one table.
type TableResult struct {
	Table string
	// NullRows were NULL when the table began; Filled of them got a tenant.
	NullRows, Filled int64
	Elapsed          time.Duration
	// SetNotNull: Apply made the column NOT NULL; AlreadyNotNull: it was.
	SetNotNull, AlreadyNotNull bool
}

// RowsPerSecond is the table's fill rate.
func (r TableResult) RowsPerSecond() float64 { return rate(r.Filled, r.Elapsed) }

// Apply backfills the tables of p in order. Each batch is one statement,
// so one short transaction, updating at most p.Options.BatchSize rows,
// only rows whose tenant is still NULL and resolvable: stopped at any
// point (ctx cancelled, process killed), Apply run again goes on where it
// was. It stops at the first table left with rows whose tenant cannot be
// derived, with an *UnresolvedError (the tables before it are done, the
// ones after untouched). Each table it leaves without NULLs is made NOT
// NULL (see NotNull). Once every table is done it reads the index and
// foreign-key migrations still to run, and runs them with
// ApplyConstraints. progress (may be nil) is called on the calling
// goroutine after each batch.
//
// The counts and samples in p are not trusted: Apply counts again. It
// sets row_security off and lock_timeout on conn.
func Apply(ctx context.Context, conn *pgx.Conn, p *Plan, progress func(Progress)) (*Result, error) {
	if progress == nil {
		progress = func(Progress) {}
	}
	if err := setLockTimeout(ctx, conn, p.Options.LockTimeout); err != nil {
		return nil, err
	}
	if _, err := conn.Exec(ctx, "SET row_security = off"); err != nil {
		return nil, fmt.Errorf("backfill: SET row_security = off: %w", err)
	}
	if err := checkPrivileges(ctx, conn, p.Tables); err != nil {
		return nil, err
	}
	res := &Result{}
	checked := map[*Table]bool{} // parents found without conflicts
	for i, t := range p.Tables {
		tr, err := applyTable(ctx, conn, p.Options, t, checked, progress)
		var ce *ConflictError
		if !errors.As(err, &ce) { // a conflict stops Apply before t
			res.Tables = append(res.Tables, tr)
		}
		if err != nil {
			var untouched []string
			for _, u := range p.Tables[i+1:] {
				untouched = append(untouched, u.String())
			}
			var ue *UnresolvedError
			switch {
			case ce != nil:
				ce.Untouched = untouched
			case errors.As(err, &ue):
				ue.Untouched = untouched
			}
			return res, err
		}
	}
	q, err := build(ctx, conn, p.Options)
	if err != nil {
		return res, err
	}
	for _, m := range q.Migrations {
		if m.Kind != NotNull {
			res.Migrations = append(res.Migrations, m)
		}
	}
	if !p.Options.ApplyConstraints || len(res.Migrations) == 0 {
		return res, nil
	}
	for _, m := range res.Migrations {
		// CREATE INDEX CONCURRENTLY waits for every transaction older than
		// itself without blocking reads or writes: no lock timeout for it.
		timeout := p.Options.LockTimeout
		if m.Kind == Index {
			timeout = 0
		}
		if err := setLockTimeout(ctx, conn, timeout); err != nil {
			return res, err
		}
		for _, s := range m.Statements {
			if err := execRetry(ctx, conn, s); err != nil {
				return res, migrationError(m, s, err)
			}
		}
	}
	res.ConstraintsApplied = true
	return res, setLockTimeout(ctx, conn, p.Options.LockTimeout)
}

// migrationError says which migration failed, with the server's detail
// (the offending key: pgconn's message leaves it out), and what a failed
// VALIDATE of a composite key means.
func migrationError(m Migration, stmt string, err error) error {
	var pg *pgconn.PgError
	if !errors.As(err, &pg) {
		return fmt.Errorf("backfill: %s: %s %s: %q: %w", m.Table, m.Kind, m.Name, stmt, err)
	}
	detail := ""
	if pg.Detail != "" {
		detail = " (" + pg.Detail + ")"
	}
	if m.Kind == ForeignKey && pg.Code == "23503" {
		return fmt.Errorf("backfill: %s: %s: rows of %s already have a tenant that differs from the row they reference%s: "+
			"the composite key is in place NOT VALID (new rows must match); correct those rows, then run apply again: %q: %w",
			m.Table, m.Name, m.Table, detail, stmt, err)
	}
	return fmt.Errorf("backfill: %s: %s %s%s: %q: %w", m.Table, m.Kind, m.Name, detail, stmt, err)
}

func setLockTimeout(ctx context.Context, conn *pgx.Conn, d time.Duration) error {
	if _, err := conn.Exec(ctx, "SELECT set_config('lock_timeout', $1, false)", fmt.Sprintf("%dms", d.Milliseconds())); err != nil {
		return fmt.Errorf("backfill: setting lock_timeout: %w", err)
	}
	return nil
}

// applyTable fills t and makes it NOT NULL; checked are the parents found
// without conflicts so far (see checkParents).
func applyTable(ctx context.Context, conn *pgx.Conn, opts Options, t *Table, checked map[*Table]bool, progress func(Progress)) (TableResult, error) {
	start := time.Now()
	tr := TableResult{Table: t.String()}
	// The plan may be old: read again whether the column is nullable.
	if err := conn.QueryRow(ctx, `SELECT NOT attnotnull FROM pg_attribute WHERE attrelid = $1 AND attname = $2`, t.oid, t.Column).Scan(&t.Nullable); err != nil {
		return tr, wrapRead(t, "reading the tenant column", err)
	}
	if !t.Nullable {
		tr.AlreadyNotNull = true
		return tr, nil
	}
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM "+t.only()+" WHERE "+ident(t.Column)+" IS NULL").Scan(&tr.NullRows); err != nil {
		return tr, wrapRead(t, "counting NULL tenants", err)
	}
	if tr.NullRows > 0 {
		if err := checkParents(ctx, conn, opts, t, checked); err != nil {
			return tr, err
		}
	}
	report := func(finished bool) {
		tr.Elapsed = time.Since(start)
		progress(Progress{Table: tr.Table, Done: tr.Filled, Total: tr.NullRows, Elapsed: tr.Elapsed, Finished: finished})
	}
	report(false)
	t.NullRows, t.Resolvable, t.Unresolved = 0, 0, nil
	// passes fills t and counts what is left, up to max times: more than
	// once only when rows change under the backfill (a NULL row inserted
	// behind the key walk, a key updated).
	passes := func(max int) error {
		for pass := 1; ; pass++ {
			n := int64(0)
			if len(t.Sources) > 0 {
				var err error
				n, err = fill(ctx, conn, t, opts.BatchSize, func(k int64) { tr.Filled += k; report(false) })
				if err != nil {
					return err
				}
			}
			if err := count(ctx, conn, t, nil, opts.Sample); err != nil {
				return err
			}
			if t.Resolvable == 0 || n == 0 || pass == max {
				return nil
			}
		}
	}
	if tr.NullRows > 0 {
		if err := passes(3); err != nil {
			report(true)
			return tr, err
		}
	}
	report(true)
	if len(t.Unresolved) > 0 {
		return tr, &UnresolvedError{Table: t, Unresolved: t.Unresolved}
	}
	// NULL tenants still arriving, or arrived since the count, all
	// derivable: the check (added NOT VALID) refuses new ones, so one more
	// pass once VALIDATE finds some is the last.
	refill := func() error {
		err := passes(1)
		report(true)
		switch {
		case err != nil:
			return err
		case len(t.Unresolved) > 0:
			return &UnresolvedError{Table: t, Unresolved: t.Unresolved}
		}
		return nil
	}
	if err := setNotNull(ctx, conn, t, refill); err != nil {
		return tr, err
	}
	tr.SetNotNull = true
	tr.Elapsed = time.Since(start)
	return tr, nil
}

// checkPrivileges returns an error naming the tables with a nullable
// tenant column the role may not UPDATE or does not own (NOT NULL is an
// ALTER TABLE), before anything is written: otherwise Apply would stop at
// the first of them, having done the tables before.
func checkPrivileges(ctx context.Context, conn *pgx.Conn, tables []*Table) error {
	var oids []uint32
	byOID := map[uint32]*Table{}
	for _, t := range tables {
		if t.Nullable {
			oids = append(oids, t.oid)
			byOID[t.oid] = t
		}
	}
	if len(oids) == 0 {
		return nil
	}
	rows, err := conn.Query(ctx, `
		SELECT c.oid, has_table_privilege(c.oid, 'UPDATE'), pg_has_role(c.relowner, 'USAGE'), pg_get_userbyid(c.relowner)::text
		FROM pg_class c WHERE c.oid = ANY($1) ORDER BY c.oid`, oids)
	if err != nil {
		return fmt.Errorf("backfill: reading privileges: %w", err)
	}
	var missing []string
	for rows.Next() {
		var oid uint32
		var update, owner bool
		var ownerName string
		if err := rows.Scan(&oid, &update, &owner, &ownerName); err != nil {
			return fmt.Errorf("backfill: reading privileges: %w", err)
		}
		var lacks []string
		if !update {
			lacks = append(lacks, "UPDATE")
		}
		if !owner {
			lacks = append(lacks, "ownership (owned by "+ownerName+")")
		}
		if len(lacks) > 0 {
			missing = append(missing, fmt.Sprintf("%s: %s", byOID[oid], strings.Join(lacks, ", ")))
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("backfill: reading privileges: %w", err)
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		return fmt.Errorf("backfill: the role lacks what the backfill needs on %s: it UPDATEs the rows and ALTERs the tables (NOT NULL); nothing was written; connect as the tables' owner (see the row-level security requirements) or a superuser",
			strings.Join(missing, "; "))
	}
	return nil
}

// checkParents returns a *ConflictError when a table t's NULL tenants are
// derived from has rows whose tenant differs from their own parent's (the
// plan's conflicts, counted again: the plan is not trusted). Called only
// when t has NULL tenants; checked are the parents found without
// conflicts, each counted once.
func checkParents(ctx context.Context, conn *pgx.Conn, opts Options, t *Table, checked map[*Table]bool) error {
	for _, s := range t.Sources {
		parent := s.Parent
		if checked[parent] || len(parent.Sources) == 0 {
			continue
		}
		if err := conflicts(ctx, conn, parent, opts.Sample); err != nil {
			return err
		}
		if len(parent.Conflicts) > 0 {
			return &ConflictError{Table: t, Parent: parent, Conflicts: parent.Conflicts}
		}
		checked[parent] = true
	}
	return nil
}

// fill runs batches on t until none is left, calling done with the rows
// each filled.
func fill(ctx context.Context, conn *pgx.Conn, t *Table, size int, done func(int64)) (int64, error) {
	var total int64
	if len(t.Key) == 0 {
		for {
			var n int64
			err := retry(ctx, func() error { return conn.QueryRow(ctx, t.Batch, size).Scan(&n) })
			if err != nil {
				return total, wrapRead(t, "filling a batch", err)
			}
			total += n
			done(n)
			if n == 0 {
				return total, nil
			}
		}
	}
	var cursor []any
	for {
		sql, args := firstBatchSQL(t), []any{size}
		if cursor != nil {
			sql, args = t.Batch, append(args, cursor...)
		}
		var n int64
		var last []any
		err := retry(ctx, func() error {
			rows, err := conn.Query(ctx, sql, args...)
			if err != nil {
				return err
			}
			defer rows.Close()
			last = nil
			if rows.Next() {
				vals, err := rows.Values()
				if err != nil {
					return err
				}
				n, last = vals[0].(int64), vals[1:]
			}
			return rows.Err()
		})
		if err != nil {
			return total, wrapRead(t, "filling a batch", err)
		}
		if last == nil {
			return total, nil
		}
		total += n
		done(n)
		cursor = last
	}
}

// setNotNull runs the NOT NULL sequence on t, going on from a CHECK a
// stopped run left. When VALIDATE finds NULL tenants (rows that arrived
// before the CHECK), it runs refill, then VALIDATE again: from the CHECK
// on, no NULL can arrive.
func setNotNull(ctx context.Context, conn *pgx.Conn, t *Table, refill func() error) error {
	var exists bool
	err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT FROM pg_constraint WHERE conrelid = $1 AND conname = $2)`, t.oid, notNullCheck(t.Column)).Scan(&exists)
	if err != nil {
		return fmt.Errorf("backfill: %s: reading constraints: %w", t, err)
	}
	m := notNullMigration(t, exists)
	validate := len(m.Statements) - 3 // then SET NOT NULL, DROP CONSTRAINT
	for i, s := range m.Statements {
		err := execRetry(ctx, conn, s)
		var pg *pgconn.PgError
		if i == validate && errors.As(err, &pg) && pg.Code == "23514" {
			if err := refill(); err != nil {
				return err
			}
			err = execRetry(ctx, conn, s)
		}
		if err != nil {
			if errors.As(err, &pg) && pg.Code == "23514" {
				return fmt.Errorf("backfill: %s: rows with a NULL %s are left after the check %s was added, so it cannot be made NOT NULL (the check refuses new ones): run the backfill again: %w",
					t, t.Column, notNullCheck(t.Column), err)
			}
			return fmt.Errorf("backfill: %s: %q: %w", t, s, err)
		}
	}
	return nil
}

func execRetry(ctx context.Context, conn *pgx.Conn, sql string) error {
	return retry(ctx, func() error { _, err := conn.Exec(ctx, sql); return err })
}

// retry runs f up to three times while it fails on a lock timeout, a
// deadlock or a serialization failure, backing off in between.
func retry(ctx context.Context, f func() error) error {
	for attempt := 0; ; attempt++ {
		err := f()
		var pg *pgconn.PgError
		if err == nil || attempt == 2 || !errors.As(err, &pg) || (pg.Code != "55P03" && pg.Code != "40P01" && pg.Code != "40001") {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(time.Duration(200<<attempt) * time.Millisecond):
		}
	}
}
