package backfill

import (
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
)

// MigrationKind says what a migration changes.
type MigrationKind string

// The kinds of migration, in the order they run.
const (
	// NotNull sets the tenant column NOT NULL without a long lock: a CHECK
	// added NOT VALID (a brief ACCESS EXCLUSIVE lock), validated (SHARE
	// UPDATE EXCLUSIVE: reads and writes go on), then SET NOT NULL, which
	// PostgreSQL 12+ proves from the validated check without a scan, then
	// the check dropped. Apply runs these itself.
	NotNull MigrationKind = "not-null"
	// Index creates a tenant-led index CONCURRENTLY: a UNIQUE (tenant,
	// primary key) on a table without any index led by the tenant column or
	// referenced by a composite key, a (tenant, foreign key) index on a
	// child.
	Index MigrationKind = "index"
	// ForeignKey replaces a foreign key between tenant-owned tables by one
	// that includes the tenant column, so a row can only reference a row
	// of its own tenant: added NOT VALID, validated, the old one dropped,
	// the new one renamed to the old name.
	ForeignKey MigrationKind = "foreign-key"
)

// Migration is one change to run after the backfill, as statements to run
// in order, each on its own (CREATE INDEX CONCURRENTLY cannot run in a
// transaction).
type Migration struct {
	Kind  MigrationKind
	Table string
	// Name is the object created (index or constraint).
	Name       string
	Why        string
	Statements []string
}

// notNullCheck is the name of the CHECK constraint of the NOT NULL
// sequence; a run killed in the middle leaves it, the next one goes on
// from it.
func notNullCheck(column string) string { return objectName(column, "not_null", "pgx_tenant") }

func notNullMigration(t *Table, checkExists bool) Migration {
	name := ident(notNullCheck(t.Column))
	// A table others inherit from is made NOT NULL alone (ONLY, a check
	// that is NO INHERIT): its children are tables of their own, backfilled
	// or not, which a recursing ALTER would check and constrain too.
	table, noInherit := t.ident(), ""
	if t.inherited {
		table, noInherit = t.only(), " NO INHERIT"
	}
	var stmts []string
	if !checkExists {
		stmts = append(stmts, fmt.Sprintf("ALTER TABLE %s ADD CONSTRAINT %s CHECK (%s IS NOT NULL)%s NOT VALID", table, name, ident(t.Column), noInherit))
	}
	stmts = append(stmts,
		fmt.Sprintf("ALTER TABLE %s VALIDATE CONSTRAINT %s", table, name),
		fmt.Sprintf("ALTER TABLE %s ALTER COLUMN %s SET NOT NULL", table, ident(t.Column)),
		fmt.Sprintf("ALTER TABLE %s DROP CONSTRAINT %s", table, name),
	)
	return Migration{Kind: NotNull, Table: t.String(), Name: t.Column, Why: "no NULL tenant left: make the column NOT NULL", Statements: stmts}
}

// migrations derives what to run after the backfill from the catalog.
func (p *Plan) migrations() []Migration {
	var notNull, indexes, fks []Migration
	sel := map[*Table]bool{}
	for _, t := range p.Tables {
		sel[t] = true
		if t.Nullable {
			notNull = append(notNull, notNullMigration(t, false))
		}
	}
	col := p.Options.Column
	planned := map[*Table][][]string{} // unique column sets being created
	hasUnique := func(t *Table, cols []string) bool {
		return t.hasUnique(cols) || slices.ContainsFunc(planned[t], func(c []string) bool { return sameSet(c, cols) })
	}
	leading := func(t *Table, cols []string) bool {
		return t.indexLeadingWith(cols) != "" || slices.ContainsFunc(planned[t], func(c []string) bool {
			return len(c) >= len(cols) && sameSet(c[:len(cols)], cols)
		})
	}
	usedIndex := map[string]bool{} // schema.name of the indexes planned here
	createIndex := func(t *Table, unique bool, cols []string, why string) {
		suffix := "idx"
		if unique {
			suffix = "key"
		}
		// PostgreSQL's own way: a number after the suffix while the name is
		// taken (names of relations are unique in a schema). An index a
		// failed run left invalid on t under the name is dropped and made
		// again.
		base := strings.Join(append([]string{t.Name}, cols...), "_")
		var name string
		var stmts []string
		for i := 0; ; i++ {
			name = suffixedName(base, numbered(suffix, i))
			key := t.Schema + "." + name
			if usedIndex[key] {
				continue
			}
			if t.invalidIndex(name) {
				stmts = append(stmts, fmt.Sprintf("DROP INDEX CONCURRENTLY IF EXISTS %s", pgx.Identifier{t.Schema, name}.Sanitize()))
				break
			}
			if !p.relations[key] {
				break
			}
		}
		usedIndex[t.Schema+"."+name] = true
		u := ""
		if unique {
			u = "UNIQUE "
		}
		stmts = append(stmts, fmt.Sprintf("CREATE %sINDEX CONCURRENTLY %s ON %s (%s)", u, ident(name), t.ident(), idents(cols)))
		indexes = append(indexes, Migration{Kind: Index, Table: t.String(), Name: name, Why: why, Statements: stmts})
		planned[t] = append(planned[t], cols)
	}
	for _, t := range p.Tables {
		if leading(t, []string{col}) {
			continue
		}
		if len(t.Key) > 0 && !slices.Contains(t.Key, col) {
			createIndex(t, true, append([]string{col}, t.Key...), "no index is led by the tenant column; unique, so composite foreign keys can reference it")
		} else {
			createIndex(t, false, []string{col}, "no index is led by the tenant column")
		}
	}
	usedConstraint := map[*Table][]string{} // constraint names planned here
	for _, fk := range p.fks {
		if !sel[fk.child] || fk.tenantPair || fk.oddTenant {
			continue
		}
		refs := append([]string{col}, fk.refColumns...)
		cols := append([]string{col}, fk.columns...)
		if !hasUnique(fk.parent, refs) {
			createIndex(fk.parent, true, refs, fmt.Sprintf("%s needs a unique key on (%s) to reference", fk.name, strings.Join(refs, ", ")))
		}
		if !leading(fk.child, cols) {
			createIndex(fk.child, false, cols, fmt.Sprintf("the composite key replacing %s is looked up by (%s) on deletes and updates of %s", fk.name, strings.Join(cols, ", "), fk.parent))
		}
		name, added := p.compositeName(fk, usedConstraint[fk.child])
		usedConstraint[fk.child] = append(usedConstraint[fk.child], name)
		fks = append(fks, fkMigration(fk, name, added))
	}
	return slices.Concat(notNull, indexes, fks)
}

// compositeName is the name the composite key replacing fk is added
// under, before it takes fk's name: fk's name with _tenant (a number after
// it while the name is taken on the table). added: a stopped run added the
// key already: a foreign key of that name and exactly that definition
// exists. The name never is fk's own (a 63-byte name cut would make it so,
// and the migration would then drop fk without replacing it), nor any other
// constraint's.
func (p *Plan) compositeName(fk *foreignKey, planned []string) (name string, added bool) {
	col := fk.child.Column
	cols := append([]string{col}, fk.columns...)
	refs := append([]string{col}, fk.refColumns...)
	for i := 0; ; i++ {
		name = suffixedName(fk.name, numbered("tenant", i))
		if slices.Contains(planned, name) {
			continue
		}
		if !slices.Contains(fk.child.constraints, name) {
			return name, false
		}
		for _, o := range p.fks {
			if o.child == fk.child && o.name == name && o.parent == fk.parent &&
				slices.Equal(o.columns, cols) && slices.Equal(o.refColumns, refs) {
				return name, true
			}
		}
	}
}

// numbered is suffix, then suffix1, suffix2…
func numbered(suffix string, i int) string {
	if i == 0 {
		return suffix
	}
	return fmt.Sprint(suffix, i)
}

func idents(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = ident(n)
	}
	return strings.Join(q, ", ")
}

var fkActions = map[byte]string{'r': "RESTRICT", 'c': "CASCADE", 'n': "SET NULL", 'd': "SET DEFAULT"}

// fkMigration replaces fk by a composite key with the tenant column, added
// as name. added: a previous run added the new key already (and was
// stopped).
func fkMigration(fk *foreignKey, name string, added bool) Migration {
	col := fk.child.Column
	why := fmt.Sprintf("%s (%s) → %s: make it tenant-aware, so a row can only reference a row of its own tenant", fk.name, strings.Join(fk.columns, ", "), fk.parent)
	var stmts []string
	if !added {
		def := fmt.Sprintf("ALTER TABLE %s ADD CONSTRAINT %s FOREIGN KEY (%s) REFERENCES %s (%s)",
			fk.child.ident(), ident(name), idents(append([]string{col}, fk.columns...)),
			fk.parent.ident(), idents(append([]string{col}, fk.refColumns...)))
		if a, ok := fkActions[fk.updType]; ok {
			def += " ON UPDATE " + a
			if fk.updType == 'n' || fk.updType == 'd' {
				why += "; ON UPDATE " + a + " would also set the tenant column: review it"
			}
		}
		if a, ok := fkActions[fk.delType]; ok {
			def += " ON DELETE " + a
			if fk.delType == 'n' || fk.delType == 'd' {
				def += " (" + idents(fk.columns) + ")" // PostgreSQL 15+: leave the tenant alone
			}
		}
		if fk.deferrable {
			def += " DEFERRABLE"
			if fk.deferred {
				def += " INITIALLY DEFERRED"
			}
		}
		stmts = append(stmts, def+" NOT VALID")
	}
	stmts = append(stmts,
		fmt.Sprintf("ALTER TABLE %s VALIDATE CONSTRAINT %s", fk.child.ident(), ident(name)),
		fmt.Sprintf("ALTER TABLE %s DROP CONSTRAINT %s", fk.child.ident(), ident(fk.name)),
		fmt.Sprintf("ALTER TABLE %s RENAME CONSTRAINT %s TO %s", fk.child.ident(), ident(name), ident(fk.name)),
	)
	return Migration{Kind: ForeignKey, Table: fk.child.String(), Name: fk.name, Why: why, Statements: stmts}
}
