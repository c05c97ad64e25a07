package guard

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/pgx-tenant/pgx-tenant/internal/sqlcheck"
)

// Catalog is the set of tenant-owned relations the guard decides with, and
// how unqualified names resolve (the search_path it was discovered with).
// It is immutable once built.
type Catalog struct {
	Column     string
	searchPath []string
	// rels holds every relation of the schemas discovered, by
	// "schema.name", so that a relation earlier on the search_path shadows
	// a tenant-owned one of the same name, as in PostgreSQL.
	rels map[relKey]sqlcheck.TableInfo
}

type relKey struct{ schema, name string }

// Relation is a relation of a Catalog built by hand (tests, or an
// application that lists its tables).
type Relation struct {
	Schema, Name string
	// Owned: it has the tenant column. Hidden: it reads tenant-owned
	// relations without having the column: a view over them (directly or
	// through other views), or a table whose inheritance children have it.
	Owned, Hidden bool
	// Position of the tenant column among the columns (1-based; 0 when
	// unknown), and whether its default reads the tenant setting.
	Position            int
	DefaultReadsSetting bool
	// Type is the tenant column's type as PostgreSQL names it ("text",
	// "uuid", "bigint"; "" when unknown): the rewrite casts the tenant it
	// appends to an INSERT … SELECT to it.
	Type string
}

// NewCatalog returns a catalog of rels, resolving unqualified names
// through searchPath (default: public).
func NewCatalog(column string, searchPath []string, rels ...Relation) *Catalog {
	if len(searchPath) == 0 {
		searchPath = []string{"public"}
	}
	c := &Catalog{Column: column, searchPath: searchPath, rels: map[relKey]sqlcheck.TableInfo{}}
	for _, r := range rels {
		schema := r.Schema
		if schema == "" {
			schema = "public"
		}
		name := r.Name
		if schema != "public" {
			name = schema + "." + r.Name
		}
		c.rels[relKey{schema, r.Name}] = sqlcheck.TableInfo{Name: name, Owned: r.Owned, Hidden: r.Hidden,
			Position: r.Position, DefaultReadsSetting: r.DefaultReadsSetting, Type: r.Type}
	}
	return c
}

// Lookup implements the analysis' view of the catalog.
func (c *Catalog) Lookup(schema, name string) (sqlcheck.TableInfo, bool) {
	if schema != "" {
		t, ok := c.rels[relKey{schema, name}]
		return t, ok
	}
	for _, s := range c.searchPath {
		if t, ok := c.rels[relKey{s, name}]; ok {
			return t, true
		}
	}
	return sqlcheck.TableInfo{}, false
}

// Owned returns the tenant-owned relations, schema-qualified, sorted.
func (c *Catalog) Owned() []string {
	var out []string
	for k, t := range c.rels {
		if t.Owned {
			out = append(out, k.schema+"."+k.name)
		}
	}
	sort.Strings(out)
	return out
}

// Names returns the relation names (unqualified) that make a text worth
// parsing: those of tenant-owned relations and hidden views.
func (c *Catalog) Names() []string {
	seen := map[string]bool{}
	var out []string
	for k, t := range c.rels {
		if (t.Owned || t.Hidden) && !seen[k.name] {
			seen[k.name] = true
			out = append(out, k.name)
		}
	}
	sort.Strings(out)
	return out
}

// Override limits or extends what discovery found: with only non-empty,
// exactly those relations are tenant-owned; exclude removes some, and
// makes a view that hides the tenant column an ordinary relation. Names
// are "schema.name" or a bare name resolved through the search_path. An
// unknown name is an error.
func (c *Catalog) Override(only, exclude []string) (*Catalog, error) {
	out := &Catalog{Column: c.Column, searchPath: c.searchPath, rels: map[relKey]sqlcheck.TableInfo{}}
	for k, t := range c.rels {
		if len(only) > 0 {
			t.Owned = false
		}
		out.rels[k] = t
	}
	set := func(names []string, owned bool) error {
		for _, n := range names {
			key, err := c.key(strings.ToLower(strings.TrimSpace(n)))
			if err != nil {
				return err
			}
			t := out.rels[key]
			t.Owned = owned
			if !owned {
				t.Hidden = false // an excluded view is deliberately global
			}
			out.rels[key] = t
		}
		return nil
	}
	if err := set(only, true); err != nil {
		return nil, err
	}
	if err := set(exclude, false); err != nil {
		return nil, err
	}
	return out, nil
}

func (c *Catalog) key(name string) (relKey, error) {
	if schema, rel, ok := strings.Cut(name, "."); ok {
		if _, found := c.rels[relKey{schema, rel}]; found {
			return relKey{schema, rel}, nil
		}
	} else {
		for _, s := range c.searchPath {
			if _, found := c.rels[relKey{s, name}]; found {
				return relKey{s, name}, nil
			}
		}
	}
	return relKey{}, fmt.Errorf("pgx-tenant guard: table %q not found (search_path %s)", name, strings.Join(c.searchPath, ", "))
}

// discoverSQL lists every relation of the schemas on the connection's
// search_path and of schemas with a relation having the tenant column:
// whether it has the column, the column's position, whether its default
// reads the setting ($2), and whether it reads relations that have the
// column without having it: a view over them (directly or through other
// views), or a table whose inheritance children have it (reading the
// parent reads the children's rows).
const discoverSQL = `
WITH RECURSIVE cols AS (
  SELECT a.attrelid, a.attnum, pg_catalog.format_type(a.atttypid, a.atttypmod) AS typ,
         (SELECT count(*) FROM pg_catalog.pg_attribute x
           WHERE x.attrelid = a.attrelid AND x.attnum > 0 AND NOT x.attisdropped AND x.attnum <= a.attnum)::int AS pos,
         COALESCE(pg_catalog.pg_get_expr(d.adbin, d.adrelid) LIKE '%current_setting(''' || $2 || '''%', false) AS reads
    FROM pg_catalog.pg_attribute a
    LEFT JOIN pg_catalog.pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
   WHERE a.attname = $1 AND a.attnum > 0 AND NOT a.attisdropped
),
reads AS ( -- a view and a relation its rule reads; a parent table and a child
  SELECT r.ev_class AS rel, dep.refobjid AS src
    FROM pg_catalog.pg_rewrite r
    JOIN pg_catalog.pg_depend dep ON dep.classid = 'pg_catalog.pg_rewrite'::regclass AND dep.objid = r.oid
         AND dep.refclassid = 'pg_catalog.pg_class'::regclass AND dep.refobjid <> r.ev_class
  UNION
  SELECT inhparent, inhrelid FROM pg_catalog.pg_inherits
),
reach AS ( -- the same, transitively
  SELECT rel, src FROM reads
  UNION
  SELECT reach.rel, reads.src FROM reach JOIN reads ON reads.rel = reach.src
)
SELECT n.nspname::text, c.relname::text, c.relkind IN ('v', 'm') AS is_view,
       cols.attnum IS NOT NULL AS has_col, COALESCE(cols.pos, 0), COALESCE(cols.reads, false),
       EXISTS (SELECT 1 FROM reach JOIN cols c2 ON c2.attrelid = reach.src WHERE reach.rel = c.oid) AS over_owned,
       COALESCE(cols.typ, '')
  FROM pg_catalog.pg_class c
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
  LEFT JOIN cols ON cols.attrelid = c.oid
 WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f')
   AND n.nspname <> 'information_schema' AND n.nspname NOT LIKE 'pg\_%'`

// Discover builds the catalog from the database conn is connected to:
// tables, partitioned tables, foreign tables and views having column are
// tenant-owned; views over them without it are hidden views; unqualified
// names resolve through conn's search_path. setting is the tenant setting,
// to recognise column defaults that read it. Discovery failure is an error,
// never an empty catalog.
func Discover(ctx context.Context, conn *pgx.Conn, column, setting string) (*Catalog, error) {
	var path []string
	if err := conn.QueryRow(ctx, "SELECT pg_catalog.current_schemas(false)::text[]", pgx.QueryExecModeExec).Scan(&path); err != nil {
		return nil, fmt.Errorf("pgx-tenant guard: reading search_path: %w", err)
	}
	rows, err := conn.Query(ctx, discoverSQL, pgx.QueryExecModeExec, column, setting)
	if err != nil {
		return nil, fmt.Errorf("pgx-tenant guard: discovering tenant tables: %w", err)
	}
	defer rows.Close()
	var rels []Relation
	for rows.Next() {
		var r Relation
		var isView, overOwned bool
		if err := rows.Scan(&r.Schema, &r.Name, &isView, &r.Owned, &r.Position, &r.DefaultReadsSetting, &overOwned, &r.Type); err != nil {
			return nil, fmt.Errorf("pgx-tenant guard: discovering tenant tables: %w", err)
		}
		r.Hidden = !r.Owned && overOwned // a view, or an inheritance parent
		rels = append(rels, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("pgx-tenant guard: discovering tenant tables: %w", err)
	}
	return NewCatalog(column, path, rels...), nil
}
