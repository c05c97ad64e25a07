package audit

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/pgx-tenant/pgx-tenant/internal/rls"
)

// checkUniques: unique_without_tenant.
//
// Exempt: a single-column primary key (taken as a surrogate key), and a
// unique index whose key columns are all generated (identity, serial, or a
// default of gen_random_uuid/uuid_generate_v1/v4): such values are unique
// across tenants by construction.
func (a *auditor) checkUniques(ctx context.Context) error {
	oids, atts := a.oids()
	rows, err := a.conn.Query(ctx, `
		SELECT t.relid, pg_catalog.quote_ident(n.nspname) || '.' || pg_catalog.quote_ident(ic.relname),
		       con.conname::text, pg_catalog.quote_ident(con.conname), i.indisprimary, i.indnkeyatts,
		       ARRAY(SELECT pg_catalog.quote_ident(at.attname)
		             FROM unnest(i.indkey::int2[]) WITH ORDINALITY AS u(k, ord)
		             JOIN pg_catalog.pg_attribute at ON at.attrelid = i.indrelid AND at.attnum = u.k
		             WHERE u.ord <= i.indnkeyatts ORDER BY u.ord),
		       i.indexprs IS NOT NULL,
		       EXISTS (SELECT 1 FROM unnest(i.indkey::int2[]) WITH ORDINALITY AS u(k, ord)
		               WHERE u.ord <= i.indnkeyatts AND u.k = t.att),
		       ARRAY(SELECT pg_catalog.pg_get_indexdef(i.indexrelid, u.ord::int, false)
		             FROM unnest(i.indkey::int2[]) WITH ORDINALITY AS u(k, ord)
		             WHERE u.ord <= i.indnkeyatts AND u.k = 0),
		       i.indexprs IS NULL AND NOT EXISTS (
		           SELECT 1 FROM unnest(i.indkey::int2[]) WITH ORDINALITY AS u(k, ord)
		           JOIN pg_catalog.pg_attribute at ON at.attrelid = i.indrelid AND at.attnum = u.k
		           LEFT JOIN pg_catalog.pg_attrdef ad ON ad.adrelid = at.attrelid AND ad.adnum = at.attnum
		           WHERE u.ord <= i.indnkeyatts AND at.attidentity = ''
		             AND COALESCE(pg_catalog.pg_get_expr(ad.adbin, ad.adrelid), '')
		                 !~* '^(nextval|gen_random_uuid|uuid_generate_v[14]|public\.gen_random_uuid|public\.uuid_generate_v[14])\('),
		       pg_catalog.pg_get_indexdef(i.indexrelid)
		FROM unnest($1::oid[], $2::int2[]) AS t(relid, att)
		JOIN pg_catalog.pg_index i ON i.indrelid = t.relid AND i.indisunique
		JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid AND NOT ic.relispartition
		JOIN pg_catalog.pg_namespace n ON n.oid = ic.relnamespace
		LEFT JOIN pg_catalog.pg_constraint con ON con.conindid = i.indexrelid AND con.conrelid = t.relid AND con.contype IN ('p', 'u')
		ORDER BY 1, 2`, oids, atts)
	if err != nil {
		return fmt.Errorf("audit: reading unique indexes: %w", err)
	}
	type unique struct {
		table              uint32
		index              string
		con, conSQL        *string
		primary            bool
		nkeys              int16
		cols               []string
		exprs, tenant, gen bool
		keyExprs           []string
		def                string
	}
	us, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (u unique, err error) {
		err = r.Scan(&u.table, &u.index, &u.con, &u.conSQL, &u.primary, &u.nkeys, &u.cols, &u.exprs, &u.tenant, &u.keyExprs, &u.gen, &u.def)
		return u, err
	})
	if err != nil {
		return fmt.Errorf("audit: reading unique indexes: %w", err)
	}
	for i := range us {
		// A key expression counts only when it is the tenant column itself
		// (under casts): one that merely mentions it ((tenant_id IS NULL),
		// a predicate, an INCLUDE column) does not make the key per tenant.
		for _, e := range us[i].keyExprs {
			us[i].tenant = us[i].tenant || a.isColumnExpr(e)
		}
	}
	for _, u := range us {
		if u.tenant || u.primary && u.nkeys == 1 || u.gen {
			continue
		}
		t := a.byOID[u.table]
		cols := strings.Join(u.cols, ", ")
		f := Finding{Kind: UniqueWithoutTenant, Severity: Medium, Table: t.name}
		what := "unique index " + u.index
		switch {
		case u.con != nil && u.primary:
			what = "primary key " + *u.con
		case u.con != nil:
			what = "unique constraint " + *u.con
		}
		if u.con != nil {
			f.Object = *u.con
		} else {
			f.Object = u.index
		}
		on := "(" + cols + ")"
		if u.exprs {
			on = "(" + u.def[strings.LastIndex(u.def, " USING ")+1:] + ")"
		}
		f.Detail = fmt.Sprintf("%s on %s does not include %s: a key taken by one tenant cannot be used by another, and the conflict tells that tenant it exists",
			what, on, a.opts.Column)
		switch {
		case u.con != nil && !u.exprs:
			kw := "UNIQUE"
			if u.primary {
				kw = "PRIMARY KEY"
			}
			f.Fix = fmt.Sprintf("ALTER TABLE %s DROP CONSTRAINT %s, ADD CONSTRAINT %s %s (%s, %s);\n-- foreign keys that reference it must add %s too",
				t.name, *u.conSQL, *u.conSQL, kw, a.colSQL, cols, a.opts.Column)
		default:
			f.Fix = fmt.Sprintf("-- recreate it with %s as its first key column; it is now:\n-- %s\nDROP INDEX %s;", a.opts.Column, u.def, u.index)
		}
		a.add(f)
	}
	return nil
}

// checkForeignKeys: fk_without_tenant and missing_tenant_column, for
// foreign keys that reference a tenant-owned table.
func (a *auditor) checkForeignKeys(ctx context.Context) error {
	oids, _ := a.oids()
	var schemas []string
	if len(a.opts.Schemas) > 0 {
		schemas = a.opts.Schemas
	}
	rows, err := a.conn.Query(ctx, `
		SELECT con.conname::text, pg_catalog.quote_ident(con.conname), con.conrelid, con.confrelid,
		       con.conkey, con.confkey,
		       pg_catalog.quote_ident(cn.nspname) || '.' || pg_catalog.quote_ident(cc.relname),
		       ARRAY(SELECT pg_catalog.quote_ident(at.attname) FROM unnest(con.conkey) WITH ORDINALITY AS u(k, ord)
		             JOIN pg_catalog.pg_attribute at ON at.attrelid = con.conrelid AND at.attnum = u.k ORDER BY u.ord),
		       ARRAY(SELECT pg_catalog.quote_ident(at.attname) FROM unnest(con.confkey) WITH ORDINALITY AS u(k, ord)
		             JOIN pg_catalog.pg_attribute at ON at.attrelid = con.confrelid AND at.attnum = u.k ORDER BY u.ord),
		       cc.relkind IN ('r', 'p') AND `+rls.UserSchema("cn.nspname")+`
		         AND ($2::text[] IS NULL OR cn.nspname = ANY($2::text[]))
		         AND NOT `+rls.ExtensionMember("pg_class", "cc.oid")+`
		         AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_attribute at
		                         WHERE at.attrelid = cc.oid AND at.attname = $3 AND at.attnum > 0 AND NOT at.attisdropped)
		FROM pg_catalog.pg_constraint con
		JOIN pg_catalog.pg_class cc ON cc.oid = con.conrelid
		JOIN pg_catalog.pg_namespace cn ON cn.oid = cc.relnamespace
		WHERE con.contype = 'f' AND con.conparentid = 0 AND con.confrelid = ANY($1::oid[])
		ORDER BY 7, 1`, oids, schemas, a.opts.Column)
	if err != nil {
		return fmt.Errorf("audit: reading foreign keys: %w", err)
	}
	type fk struct {
		name, nameSQL          string
		child, parent          uint32
		key, fkey              []int16
		childName              string
		cols, fcols            []string
		childLacksTenantColumn bool
	}
	fks, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (k fk, err error) {
		err = r.Scan(&k.name, &k.nameSQL, &k.child, &k.parent, &k.key, &k.fkey, &k.childName, &k.cols, &k.fcols, &k.childLacksTenantColumn)
		return k, err
	})
	if err != nil {
		return fmt.Errorf("audit: reading foreign keys: %w", err)
	}
	for _, k := range fks {
		parent := a.byOID[k.parent]
		child, childOwned := a.byOID[k.child]
		ref := fmt.Sprintf("foreign key %s (%s) → %s (%s)", k.name, strings.Join(k.cols, ", "), parent.name, strings.Join(k.fcols, ", "))
		switch {
		case childOwned:
			paired := false
			for i := range k.key {
				if i < len(k.fkey) && k.key[i] == child.att && k.fkey[i] == parent.att {
					paired = true
				}
			}
			if paired {
				continue
			}
			a.add(Finding{Kind: FKWithoutTenant, Severity: High, Table: child.name, Object: k.name,
				Detail: fmt.Sprintf("%s does not pair %s with %s: a row can point at another tenant's row, and since foreign-key checks ignore RLS, an insert tells whether another tenant's key exists",
					ref, a.opts.Column, a.opts.Column),
				Fix: fmt.Sprintf("ALTER TABLE %s DROP CONSTRAINT %s,\n  ADD CONSTRAINT %s FOREIGN KEY (%s) REFERENCES %s (%s);\n-- needs a unique constraint on %s (%s)",
					child.name, k.nameSQL, k.nameSQL, a.withTenant(k.cols), parent.name, a.withTenant(k.fcols), parent.name, a.withTenant(k.fcols))})
		case k.childLacksTenantColumn:
			fix := fmt.Sprintf("ALTER TABLE %s ADD COLUMN %s %s;\n", k.childName, a.colSQL, parent.typ)
			if len(k.cols) == 1 {
				fix += fmt.Sprintf("UPDATE %s c SET %s = p.%s FROM %s p WHERE p.%s = c.%s;\n", k.childName, a.colSQL, a.colSQL, parent.name, k.fcols[0], k.cols[0])
			} else {
				fix += "-- backfill it from the referenced rows, then:\n"
			}
			fix += fmt.Sprintf("ALTER TABLE %s ALTER COLUMN %s SET NOT NULL;\n-- then make %s (%s, …) and add RLS (pgx-tenant rls plan)", k.childName, a.colSQL, k.name, a.opts.Column)
			a.add(Finding{Kind: MissingTenantColumn, Severity: High, Table: k.childName, Object: k.name,
				Detail: fmt.Sprintf("references the tenant-owned %s through %s but has no %s column: its rows belong to a tenant only through the parent, and no policy can scope them",
					parent.name, ref, a.opts.Column),
				Fix: fix})
		}
	}
	return nil
}

// isColumnExpr: expr (an index key expression) is the tenant column,
// possibly cast.
func (a *auditor) isColumnExpr(expr string) bool {
	n, err := parseExpr("SELECT " + expr)
	return err == nil && exprAnalyzer{column: a.opts.Column}.isColumn(n)
}

// withTenant puts the tenant column first in cols, unless it is there.
func (a *auditor) withTenant(cols []string) string {
	for _, c := range cols {
		if c == a.colSQL {
			return strings.Join(cols, ", ")
		}
	}
	return strings.Join(append([]string{a.colSQL}, cols...), ", ")
}
