package backfill

import (
	"context"
	"errors"
	"fmt"
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
	res := &Result{}
	for i, t := range p.Tables {
		tr, err := applyTable(ctx, conn, p.Options, t, progress)
		res.Tables = append(res.Tables, tr)
		if err != nil {
			var ue *UnresolvedError
			if errors.As(err, &ue) {
				for _, u := range p.Tables[i+1:] {
					ue.Untouched = append(ue.Untouched, u.String())
				}
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
				return res, fmt.Errorf("backfill: %s: %s %s: %q: %w", m.Table, m.Kind, m.Name, s, err)
			}
		}
	}
	res.ConstraintsApplied = true
	return res, setLockTimeout(ctx, conn, p.Options.LockTimeout)
}

func setLockTimeout(ctx context.Context, conn *pgx.Conn, d time.Duration) error {
	if _, err := conn.Exec(ctx, "SELECT set_config('lock_timeout', $1, false)", fmt.Sprintf("%dms", d.Milliseconds())); err != nil {
		return fmt.Errorf("backfill: setting lock_timeout: %w", err)
	}
	return nil
}

func applyTable(ctx context.Context, conn *pgx.Conn, opts Options, t *Table, progress func(Progress)) (TableResult, error) {
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
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM "+t.ident()+" WHERE "+ident(t.Column)+" IS NULL").Scan(&tr.NullRows); err != nil {
		return tr, wrapRead(t, "counting NULL tenants", err)
	}
	report := func(finished bool) {
		tr.Elapsed = time.Since(start)
		progress(Progress{Table: tr.Table, Done: tr.Filled, Total: tr.NullRows, Elapsed: tr.Elapsed, Finished: finished})
	}
	report(false)
	t.NullRows, t.Resolvable, t.Unresolved = 0, 0, nil
	if tr.NullRows > 0 {
		// More than one pass only when rows change under the backfill
		// (a NULL row inserted behind the key walk, a key updated).
		for pass := 1; ; pass++ {
			n := int64(0)
			if len(t.Sources) > 0 {
				var err error
				n, err = fill(ctx, conn, t, opts.BatchSize, func(k int64) { tr.Filled += k; report(false) })
				if err != nil {
					report(true)
					return tr, err
				}
			}
			if err := count(ctx, conn, t, nil, opts.Sample); err != nil {
				report(true)
				return tr, err
			}
			if t.Resolvable == 0 || n == 0 || pass == 3 {
				break
			}
		}
	}
	report(true)
	if len(t.Unresolved) > 0 {
		return tr, &UnresolvedError{Table: t, Unresolved: t.Unresolved}
	}
	if t.NullRows > 0 {
		return tr, fmt.Errorf("backfill: %s: %d rows still have a NULL tenant that can be derived after 3 passes: rows are changing under the backfill; run it again", t, t.NullRows)
	}
	if err := setNotNull(ctx, conn, t); err != nil {
		return tr, err
	}
	tr.SetNotNull = true
	tr.Elapsed = time.Since(start)
	return tr, nil
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
// stopped run left.
func setNotNull(ctx context.Context, conn *pgx.Conn, t *Table) error {
	var exists bool
	err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT FROM pg_constraint WHERE conrelid = $1 AND conname = $2)`, t.oid, notNullCheck(t.Column)).Scan(&exists)
	if err != nil {
		return fmt.Errorf("backfill: %s: reading constraints: %w", t, err)
	}
	for _, s := range notNullMigration(t, exists).Statements {
		if err := execRetry(ctx, conn, s); err != nil {
			var pg *pgconn.PgError
			if errors.As(err, &pg) && pg.Code == "23514" {
				return fmt.Errorf("backfill: %s: rows with a NULL %s arrived during the backfill, so it cannot be made NOT NULL; the check %s now refuses new ones: make the application write the tenant, and run the backfill again: %w",
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
