package backfill

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
)

// index is one index of a table, as the migrations need it.
type index struct {
	name                      string
	columns                   []string // key columns; expression columns are left out
	unique, valid, exprOrPred bool
}

// foreignKey is one foreign key between two tenant-owned tables.
type foreignKey struct {
	name                string
	child, parent       *Table
	columns, refColumns []string
	colNotNull          []bool // per referencing column: NOT NULL
	// collations: per pair, the referenced column's collation (quoted,
	// qualified) when it is not the referencing column's, else "": the
	// lookup compares under it, as the key's checks and the referenced
	// unique index do (two implicit collations in one = are an error).
	collations           []string
	updType, delType     byte // pg_constraint.confupdtype / confdeltype
	deferrable, deferred bool
	tenantPair           bool // the tenant column is one of the pairs, child tenant → parent tenant
	oddTenant            bool // the child's tenant column refers to some other parent column
}

// load reads the tenant-owned tables of the database, their keys, indexes
// and the foreign keys between them.
func load(ctx context.Context, conn *pgx.Conn, column string) (tables []*Table, skipped []Skipped, fks []*foreignKey, err error) {
	rows, err := conn.Query(ctx, `
		SELECT c.oid, n.nspname, c.relname, NOT a.attnotnull, c.relkind = 'p',
		       EXISTS (SELECT FROM pg_inherits i WHERE i.inhparent = c.oid)
		FROM pg_class c
		JOIN pg_namespace n ON n.oid = c.relnamespace
		JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = $1 AND a.attnum > 0 AND NOT a.attisdropped
		WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition
		  AND n.nspname <> 'information_schema' AND n.nspname NOT LIKE 'pg\_%'
		ORDER BY n.nspname, c.relname`, column)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("backfill: reading tenant-owned tables: %w", err)
	}
	byOID := map[uint32]*Table{}
	var oids []uint32
	for rows.Next() {
		t := &Table{Column: column}
		var partitioned bool
		if err := rows.Scan(&t.oid, &t.Schema, &t.Name, &t.Nullable, &partitioned, &t.inherited); err != nil {
			return nil, nil, nil, fmt.Errorf("backfill: reading tenant-owned tables: %w", err)
		}
		if partitioned {
			skipped = append(skipped, Skipped{Table: t.String(), Why: "partitioned tables are not handled: backfill each partition's parent rows by hand"})
			continue
		}
		tables = append(tables, t)
		byOID[t.oid] = t
		oids = append(oids, t.oid)
	}
	if err := rows.Err(); err != nil {
		return nil, nil, nil, fmt.Errorf("backfill: reading tenant-owned tables: %w", err)
	}
	if len(tables) == 0 {
		return nil, skipped, nil, nil
	}

	// Indexes (key columns only; attnum 0 is an expression, left out).
	rows, err = conn.Query(ctx, `
		SELECT i.indrelid, ic.relname, i.indisunique, i.indisprimary, i.indisvalid AND i.indisready,
		       i.indexprs IS NOT NULL OR i.indpred IS NOT NULL,
		       ARRAY(SELECT a.attname::text
		             FROM unnest((i.indkey::int2[])[0:i.indnkeyatts - 1]) WITH ORDINALITY k(attnum, ord)
		             JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
		             ORDER BY k.ord)
		FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid
		WHERE i.indrelid = ANY($1)
		ORDER BY ic.relname`, oids)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("backfill: reading indexes: %w", err)
	}
	for rows.Next() {
		var oid uint32
		var ix index
		var primary bool
		if err := rows.Scan(&oid, &ix.name, &ix.unique, &primary, &ix.valid, &ix.exprOrPred, &ix.columns); err != nil {
			return nil, nil, nil, fmt.Errorf("backfill: reading indexes: %w", err)
		}
		t := byOID[oid]
		t.indexes = append(t.indexes, ix)
		if primary {
			t.Key = ix.columns
		}
	}
	if err := rows.Err(); err != nil {
		return nil, nil, nil, fmt.Errorf("backfill: reading indexes: %w", err)
	}

	// Every constraint name of the tables, and every relation name of their
	// schemas: the names of new constraints and indexes must not collide.
	rows, err = conn.Query(ctx, `
		SELECT con.conrelid, con.conname::text FROM pg_constraint con WHERE con.conrelid = ANY($1)`, oids)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("backfill: reading constraints: %w", err)
	}
	for rows.Next() {
		var oid uint32
		var name string
		if err := rows.Scan(&oid, &name); err != nil {
			return nil, nil, nil, fmt.Errorf("backfill: reading constraints: %w", err)
		}
		byOID[oid].constraints = append(byOID[oid].constraints, name)
	}
	if err := rows.Err(); err != nil {
		return nil, nil, nil, fmt.Errorf("backfill: reading constraints: %w", err)
	}

	// Foreign keys between tenant-owned tables.
	rows, err = conn.Query(ctx, `
		SELECT con.conname, con.conrelid, con.confrelid,
		       ARRAY(SELECT a.attname::text FROM unnest(con.conkey) WITH ORDINALITY k(attnum, ord)
		             JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum ORDER BY k.ord),
		       ARRAY(SELECT a.attname::text FROM unnest(con.confkey) WITH ORDINALITY k(attnum, ord)
		             JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.attnum ORDER BY k.ord),
		       ARRAY(SELECT a.attnotnull FROM unnest(con.conkey) WITH ORDINALITY k(attnum, ord)
		             JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum ORDER BY k.ord),
		       ARRAY(SELECT CASE WHEN pa.attcollation <> 0 AND pa.attcollation <> ca.attcollation
		                    THEN quote_ident(cn.nspname) || '.' || quote_ident(co.collname) ELSE '' END
		             FROM unnest(con.conkey, con.confkey) WITH ORDINALITY k(attnum, refnum, ord)
		             JOIN pg_attribute ca ON ca.attrelid = con.conrelid AND ca.attnum = k.attnum
		             JOIN pg_attribute pa ON pa.attrelid = con.confrelid AND pa.attnum = k.refnum
		             LEFT JOIN pg_collation co ON co.oid = pa.attcollation
		             LEFT JOIN pg_namespace cn ON cn.oid = co.collnamespace
		             ORDER BY k.ord),
		       con.confupdtype, con.confdeltype, con.condeferrable, con.condeferred
		FROM pg_constraint con
		WHERE con.contype = 'f' AND con.conrelid = ANY($1) AND con.confrelid = ANY($1)
		ORDER BY con.conname`, oids)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("backfill: reading foreign keys: %w", err)
	}
	for rows.Next() {
		var fk foreignKey
		var childOID, parentOID uint32
		var upd, del string
		if err := rows.Scan(&fk.name, &childOID, &parentOID, &fk.columns, &fk.refColumns, &fk.colNotNull, &fk.collations, &upd, &del, &fk.deferrable, &fk.deferred); err != nil {
			return nil, nil, nil, fmt.Errorf("backfill: reading foreign keys: %w", err)
		}
		fk.child, fk.parent = byOID[childOID], byOID[parentOID]
		if fk.child == nil || fk.parent == nil {
			continue // a partitioned table, skipped above
		}
		fk.updType, fk.delType = upd[0], del[0]
		for i, c := range fk.columns {
			if c == column {
				if fk.refColumns[i] == column {
					fk.tenantPair = true
				} else {
					fk.oddTenant = true
				}
			}
		}
		fks = append(fks, &fk)
	}
	if err := rows.Err(); err != nil {
		return nil, nil, nil, fmt.Errorf("backfill: reading foreign keys: %w", err)
	}
	return tables, skipped, fks, nil
}

// relations reads the names of the relations (tables, indexes, views…)
// in the schemas of tables, keyed schema + "." + name: an index's name
// must differ from all of them.
func relations(ctx context.Context, conn *pgx.Conn, tables []*Table) (map[string]bool, error) {
	oids := make([]uint32, 0, len(tables))
	for _, t := range tables {
		oids = append(oids, t.oid)
	}
	rows, err := conn.Query(ctx, `
		SELECT n.nspname::text, c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE c.relnamespace IN (SELECT relnamespace FROM pg_class WHERE oid = ANY($1))`, oids)
	if err != nil {
		return nil, fmt.Errorf("backfill: reading relation names: %w", err)
	}
	out := map[string]bool{}
	for rows.Next() {
		var schema, name string
		if err := rows.Scan(&schema, &name); err != nil {
			return nil, fmt.Errorf("backfill: reading relation names: %w", err)
		}
		out[schema+"."+name] = true
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("backfill: reading relation names: %w", err)
	}
	return out, nil
}

// lookupColumns are the pairs of fk that find the parent row when the
// child's tenant is NULL: every pair but the tenant one. ok is false when
// they do not identify one parent row (no unique index on exactly them).
func (fk *foreignKey) lookupColumns() (cols, refs, colls []string, notNull, ok bool) {
	if fk.oddTenant {
		return nil, nil, nil, false, false
	}
	notNull = true
	for i, c := range fk.columns {
		if c != fk.child.Column || !fk.tenantPair {
			cols, refs, colls = append(cols, c), append(refs, fk.refColumns[i]), append(colls, fk.collations[i])
			notNull = notNull && fk.colNotNull[i]
		}
	}
	if fk.tenantPair && (len(refs) == 0 || !fk.parent.hasUnique(refs)) {
		return nil, nil, nil, false, false
	}
	return cols, refs, colls, notNull, true
}

// hasUnique reports whether t has a valid unique index on exactly the set
// cols (in any order), which is what a foreign key needs to reference them.
func (t *Table) hasUnique(cols []string) bool {
	for _, ix := range t.indexes {
		if ix.unique && ix.valid && !ix.exprOrPred && sameSet(ix.columns, cols) {
			return true
		}
	}
	return false
}

// indexLeadingWith returns a valid index whose first len(cols) key columns
// are the set cols, or "".
func (t *Table) indexLeadingWith(cols []string) string {
	for _, ix := range t.indexes {
		if ix.valid && !ix.exprOrPred && len(ix.columns) >= len(cols) && sameSet(ix.columns[:len(cols)], cols) {
			return ix.name
		}
	}
	return ""
}

// invalidIndex reports whether t has an index called name that a failed
// CREATE INDEX CONCURRENTLY left invalid.
func (t *Table) invalidIndex(name string) bool {
	for _, ix := range t.indexes {
		if ix.name == name && !ix.valid {
			return true
		}
	}
	return false
}

func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// objectName builds a constraint or index name from parts, cut to the 63
// bytes PostgreSQL keeps (on a UTF-8 boundary).
func objectName(parts ...string) string {
	return cut(strings.Join(parts, "_"), 63)
}

// suffixedName is base_suffix, base cut so that the whole fits in the 63
// bytes PostgreSQL keeps: unlike objectName, the suffix is never cut off,
// so the name differs from base even when base is 63 bytes long (as
// PostgreSQL's own generated names for long tables and columns are).
func suffixedName(base, suffix string) string {
	return cut(base, 63-len(suffix)-1) + "_" + suffix
}

func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[:n]
	for !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s
}
