package backfill

import (
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
)

func ident(name string) string { return pgx.Identifier{name}.Sanitize() }

// col is alias.column, the column quoted.
func col(alias, name string) string { return alias + "." + ident(name) }

// builder writes the expressions that derive a row's tenant. Aliases are
// numbered so that nested lookups never shadow each other.
type builder struct {
	n int
	// transitive are the tables whose NULL tenants are themselves derived
	// (the plan counts what the whole run will fill); nil: parents' tenants
	// as stored (Apply, which fills parents first).
	transitive map[*Table]bool
}

func (b *builder) alias(prefix string) string {
	b.n++
	return fmt.Sprintf("%s%d", prefix, b.n)
}

// values returns, per source of t, the tenant of the row that row a
// references through it (NULL when its columns are NULL).
func (b *builder) values(t *Table, a string) []string {
	out := make([]string, len(t.Sources))
	for i, s := range t.Sources {
		p := b.alias("p")
		val := col(p, t.Column)
		if b.transitive[s.Parent] && s.Parent.Nullable && len(s.Parent.Sources) > 0 {
			val = "COALESCE(" + val + ", " + b.derived(s.Parent, p) + ")"
		}
		conds := make([]string, len(s.Columns))
		for j := range s.Columns {
			conds[j] = col(p, s.RefColumns[j]) + " = " + col(a, s.Columns[j])
			if c := s.collations[j]; c != "" {
				conds[j] += " COLLATE " + c
			}
		}
		out[i] = fmt.Sprintf("(SELECT %s FROM %s %s WHERE %s)", val, s.Parent.only(), p, strings.Join(conds, " AND "))
	}
	return out
}

// derived is the tenant derived for row a of t: the first non-NULL value
// of its sources in preference order, or NULL when two of them disagree.
func (b *builder) derived(t *Table, a string) string {
	vals := b.values(t, a)
	if len(vals) == 1 {
		return vals[0]
	}
	d := b.alias("d")
	sel, refs := make([]string, len(vals)), make([]string, len(vals))
	for i, v := range vals {
		sel[i] = fmt.Sprintf("%s AS v%d", v, i+1)
		refs[i] = fmt.Sprintf("%s.v%d", d, i+1)
	}
	return fmt.Sprintf("(SELECT CASE WHEN %s THEN COALESCE(%s) END FROM (SELECT %s) %s)",
		agree(refs), strings.Join(refs, ", "), strings.Join(sel, ", "), d)
}

// agree is true when no two of the non-NULL values differ.
func agree(refs []string) string {
	var conds []string
	for i := range refs {
		for j := i + 1; j < len(refs); j++ {
			conds = append(conds, fmt.Sprintf("(%s IS NULL OR %s IS NULL OR %s = %s)", refs[i], refs[j], refs[i], refs[j]))
		}
	}
	if len(conds) == 0 {
		return "true"
	}
	return strings.Join(conds, " AND ")
}

// keyText is the primary key of row a as text (a ctid without one), and
// the columns to order by.
func keyText(t *Table, a string) (text string, order []string) {
	switch len(t.Key) {
	case 0:
		return a + ".ctid::text", []string{a + ".ctid"}
	case 1:
		return col(a, t.Key[0]) + "::text", []string{col(a, t.Key[0])}
	}
	for _, k := range t.Key {
		order = append(order, col(a, k))
	}
	return "ROW(" + strings.Join(order, ", ") + ")::text", order
}

// classifySQL selects, for every row of t whose tenant is NULL, reason (0
// when resolvable, else a Reason), k (its key as text) and o1… (the key,
// to order by).
func classifySQL(t *Table, transitive map[*Table]bool) string {
	b := &builder{transitive: transitive}
	k, order := keyText(t, "c")
	var outs []string
	for i, o := range order {
		outs = append(outs, fmt.Sprintf("%s AS o%d", o, i+1))
	}
	if len(t.Sources) == 0 {
		return fmt.Sprintf("SELECT %d AS reason, %s AS k, %s FROM %s c WHERE %s IS NULL",
			NoForeignKey, k, strings.Join(outs, ", "), t.only(), col("c", t.Column))
	}
	vals := b.values(t, "c")
	sel, refs := make([]string, len(vals)), make([]string, len(vals))
	for i, v := range vals {
		sel[i] = fmt.Sprintf("%s AS v%d", v, i+1)
		refs[i] = fmt.Sprintf("d.v%d", i+1)
	}
	var set []string // a source's columns are all set (MATCH SIMPLE checks only those)
	for _, s := range t.Sources {
		var c []string
		for _, name := range s.Columns {
			c = append(c, col("c", name)+" IS NOT NULL")
		}
		set = append(set, "("+strings.Join(c, " AND ")+")")
	}
	return fmt.Sprintf(`SELECT CASE
    WHEN NOT (%s) THEN %d
    WHEN COALESCE(%s) IS NOT NULL THEN 0
    WHEN %s THEN %d
    ELSE %d END AS reason,
  %s AS k, %s
FROM %s c CROSS JOIN LATERAL (SELECT %s) d
WHERE %s IS NULL`,
		agree(refs), ParentsDisagree,
		strings.Join(refs, ", "),
		strings.Join(set, " OR "), ParentTenantNull,
		ForeignKeyNull,
		k, strings.Join(outs, ", "),
		t.only(), strings.Join(sel, ", "),
		col("c", t.Column))
}

// batchSQL is the statement one batch of Apply runs on t (empty when t has
// no source: nothing to derive). With a primary key it walks the key:
// $1 is the batch size, $2… the key of the last row of the previous batch;
// see firstBatchSQL for the first. It returns the rows filled and the key
// of the last row looked at, no row when there was none. Without a primary
// key it picks rows by ctid and returns the rows filled.
func batchSQL(t *Table) string { return batchStatement(t, true) }

func firstBatchSQL(t *Table) string { return batchStatement(t, false) }

func batchStatement(t *Table, cursor bool) string {
	if len(t.Sources) == 0 {
		return ""
	}
	column := ident(t.Column)
	target := (&builder{}).derived(t, "t")
	if len(t.Key) == 0 {
		return fmt.Sprintf(`WITH filled AS (
  UPDATE %s t SET %s = %s
  WHERE t.ctid = ANY (ARRAY(
      SELECT c.ctid FROM %s c
      WHERE %s IS NULL AND %s IS NOT NULL
      LIMIT $1))
    AND %s IS NULL AND %s IS NOT NULL
  RETURNING 1)
SELECT count(*) FROM filled`,
			t.only(), column, target,
			t.only(), col("c", t.Column), (&builder{}).derived(t, "c"),
			col("t", t.Column), target)
	}
	var keyC, keyB, keyBDesc, params, join []string
	for i, k := range t.Key {
		keyC = append(keyC, col("c", k))
		keyB = append(keyB, col("b", k))
		keyBDesc = append(keyBDesc, col("b", k)+" DESC")
		params = append(params, fmt.Sprintf("$%d", i+2))
		join = append(join, col("t", k)+" = "+col("b", k))
	}
	after := ""
	if cursor {
		after = fmt.Sprintf(" AND (%s) > (%s)", strings.Join(keyC, ", "), strings.Join(params, ", "))
	}
	return fmt.Sprintf(`WITH batch AS MATERIALIZED (
  SELECT %s FROM %s c
  WHERE %s IS NULL%s
  ORDER BY %s
  LIMIT $1
), filled AS (
  UPDATE %s t SET %s = %s
  FROM batch b
  WHERE %s AND %s IS NULL AND %s IS NOT NULL
  RETURNING 1
)
SELECT (SELECT count(*) FROM filled), %s FROM batch b ORDER BY %s LIMIT 1`,
		strings.Join(keyC, ", "), t.only(),
		col("c", t.Column), after,
		strings.Join(keyC, ", "),
		t.only(), column, target,
		strings.Join(join, " AND "), col("t", t.Column), target,
		strings.Join(keyB, ", "), strings.Join(keyBDesc, ", "))
}
