package audit

import (
	"testing"

	pg_query "github.com/pganalyze/pg_query_go/v5"
)

// The expressions are written as pg_get_expr prints them, which is what
// the audit reads.
func TestAnalyzeExpr(t *testing.T) {
	for _, tc := range []struct {
		name string
		expr string
		want exprReport
	}{
		{"recommended", `(tenant_id = ( SELECT NULLIF(current_setting('app.tenant_id'::text, true), ''::text) AS "nullif"))`,
			exprReport{Scoped: true, Reads: true}},
		{"recommended uuid", `(tenant_id = ( SELECT (NULLIF(current_setting('app.tenant_id'::text, true), ''::text))::uuid AS "nullif"))`,
			exprReport{Scoped: true, Reads: true}},
		{"setting on the left", `(( SELECT NULLIF(current_setting('app.tenant_id'::text, true), ''::text) AS "nullif") = tenant_id)`,
			exprReport{Scoped: true, Reads: true}},
		{"permissive stage", `((tenant_id = ( SELECT NULLIF(current_setting('app.tenant_id'::text, true), ''::text) AS "nullif")) OR (tenant_id IS NULL))`,
			exprReport{Scoped: true, AllowsNull: true, Reads: true}},
		{"and another condition", `((status <> 'deleted'::text) AND (tenant_id = ( SELECT NULLIF(current_setting('app.tenant_id'::text, true), ''::text) AS "nullif")))`,
			exprReport{Scoped: true, Reads: true}},
		{"setting name case", `(tenant_id = ( SELECT NULLIF(current_setting('App.Tenant_ID'::text, true), ''::text) AS "nullif"))`,
			exprReport{Scoped: true, Reads: true}},
		{"no nullif, per row", `(tenant_id = current_setting('app.tenant_id'::text))`,
			exprReport{Scoped: true, Reads: true, NoNullif: true, PerRow: true}},
		{"nullif, per row", `(tenant_id = NULLIF(current_setting('app.tenant_id'::text, true), ''::text))`,
			exprReport{Scoped: true, Reads: true, PerRow: true}},
		{"sub-select, no nullif", `(tenant_id = ( SELECT current_setting('app.tenant_id'::text, true) AS current_setting))`,
			exprReport{Scoped: true, Reads: true, NoNullif: true}},
		{"nullif with another value", `(tenant_id = ( SELECT NULLIF(current_setting('app.tenant_id'::text, true), 'none'::text) AS "nullif"))`,
			exprReport{Scoped: true, Reads: true, NoNullif: true}},
		{"correlated exists, per row", `((tenant_id = ( SELECT NULLIF(current_setting('app.tenant_id'::text, true), ''::text) AS "nullif")) AND (EXISTS ( SELECT 1 WHERE (t.owner = NULLIF(current_setting('app.tenant_id'::text, true), ''::text)))))`,
			exprReport{Scoped: true, Reads: true, PerRow: true}},
		{"true", `true`, exprReport{}},
		{"other column", `(owner_id = ( SELECT NULLIF(current_setting('app.tenant_id'::text, true), ''::text) AS "nullif"))`,
			exprReport{Reads: true}},
		{"other setting", `(tenant_id = ( SELECT NULLIF(current_setting('app.user_id'::text, true), ''::text) AS "nullif"))`,
			exprReport{Opaque: true}},
		{"or true", `((tenant_id = ( SELECT NULLIF(current_setting('app.tenant_id'::text, true), ''::text) AS "nullif")) OR true)`,
			exprReport{Reads: true}},
		{"or other column", `((tenant_id = ( SELECT NULLIF(current_setting('app.tenant_id'::text, true), ''::text) AS "nullif")) OR (public = true))`,
			exprReport{Reads: true}},
		{"is null alone", `(tenant_id IS NULL)`, exprReport{}},
		{"constant tenant", `(tenant_id = 'acme'::text)`, exprReport{}},
		{"not", `(NOT (tenant_id = ( SELECT NULLIF(current_setting('app.tenant_id'::text, true), ''::text) AS "nullif")))`,
			exprReport{Reads: true}},
		{"helper function", `(tenant_id = current_tenant())`, exprReport{Opaque: true}},
		{"membership query", `(tenant_id IN ( SELECT m.tenant_id FROM memberships m WHERE (m.user_id = current_user)))`,
			exprReport{Opaque: true}},
		{"membership equality", `(tenant_id = ( SELECT m.tenant_id FROM memberships m WHERE (m.user_id = CURRENT_USER)))`,
			exprReport{Opaque: true}},
		{"cast column", `((tenant_id)::text = ( SELECT NULLIF(current_setting('app.tenant_id'::text, true), ''::text) AS "nullif"))`,
			exprReport{Scoped: true, Reads: true}},
		// COALESCE with a fallback: a statement without a tenant sees the
		// fallback's rows, every row for the column itself.
		{"coalesce constant", `(tenant_id = COALESCE(( SELECT NULLIF(current_setting('app.tenant_id'::text, true), ''::text) AS "nullif"), 'x'::text))`,
			exprReport{Reads: true}},
		{"coalesce column", `(tenant_id = COALESCE(NULLIF(current_setting('app.tenant_id'::text, true), ''::text), tenant_id))`,
			exprReport{Reads: true, PerRow: true}},
		{"coalesce two settings", `(tenant_id = COALESCE(( SELECT NULLIF(current_setting('app.tenant_id'::text, true), ''::text) AS "nullif"), NULL::text))`,
			exprReport{Scoped: true, Reads: true}},
		{"coalesce constant in a sub-select", `(tenant_id = ( SELECT COALESCE(NULLIF(current_setting('app.tenant_id'::text, true), ''::text), 'acme'::text) AS "coalesce"))`,
			exprReport{Reads: true}},
		{"coalesce column in a sub-select", `(tenant_id = ( SELECT COALESCE(NULLIF(current_setting('app.tenant_id'::text, true), ''::text), t.tenant_id) AS "coalesce"))`,
			exprReport{Reads: true}},
		{"itself", `(tenant_id = tenant_id)`, exprReport{}},
		{"itself cast", `((tenant_id)::text = (tenant_id)::text)`, exprReport{}},
		{"another column", `(tenant_id = owner_tenant)`, exprReport{}},
		{"case falling back to the column", `(tenant_id = CASE WHEN (current_setting('app.tenant_id'::text, true) IS NULL) THEN tenant_id ELSE current_setting('app.tenant_id'::text, true) END)`,
			exprReport{Reads: true, NoNullif: true, PerRow: true}},
		{"any of the setting", `(tenant_id = ANY (string_to_array(current_setting('app.tenant_id'::text, true), ','::text)))`,
			exprReport{Opaque: true, Reads: true, NoNullif: true, PerRow: true}},
		{"any of constants", `(tenant_id = ANY (ARRAY['a'::text, 'b'::text]))`, exprReport{}},
		{"function of the column", `(tenant_id = lookup(tenant_id))`, exprReport{Opaque: true}},
		{"schema-qualified", `(tenant_id = ( SELECT NULLIF(pg_catalog.current_setting('app.tenant_id'::text, true), ''::text) AS "nullif"))`,
			exprReport{Scoped: true, Reads: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := analyzeExpr(tc.expr, "tenant_id", "app.tenant_id", nil)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("analyzeExpr(%s)\n got %+v\nwant %+v", tc.expr, got, tc.want)
			}
		})
	}
}

// TestAnalyzeExprHelpers: a call of a helper is judged by the helper's
// body, as the planner inlines it; anything else stays opaque.
func TestAnalyzeExprHelpers(t *testing.T) {
	helpers := map[string]*pg_query.Node{}
	for name, body := range map[string]string{
		"current_tenant":        `SELECT NULLIF(current_setting('app.tenant_id', true), '')`,
		"public.current_tenant": `SELECT NULLIF(current_setting('app.tenant_id', true), '')`,
		"tenant_uuid":           `SELECT (SELECT current_tenant())::uuid`,
		"raw_tenant":            `SELECT current_setting('app.tenant_id')`,
		"fallback":              `SELECT COALESCE(NULLIF(current_setting('app.tenant_id', true), ''), 'acme')`,
		"loop":                  `SELECT loop()`,
	} {
		n, err := parseExpr(body)
		if err != nil {
			t.Fatal(err)
		}
		helpers[name] = n
	}
	for _, tc := range []struct {
		name string
		expr string
		want exprReport
	}{
		{"sub-select of a helper", `(tenant_id = ( SELECT current_tenant() AS current_tenant))`, exprReport{Scoped: true, Reads: true}},
		{"qualified", `(tenant_id = ( SELECT public.current_tenant() AS current_tenant))`, exprReport{Scoped: true, Reads: true}},
		{"per row", `(tenant_id = current_tenant())`, exprReport{Scoped: true, Reads: true, PerRow: true}},
		{"helper of a helper", `(tenant_id = tenant_uuid())`, exprReport{Scoped: true, Reads: true}},
		{"no nullif inside", `(tenant_id = ( SELECT raw_tenant() AS raw_tenant))`, exprReport{Scoped: true, Reads: true, NoNullif: true}},
		{"fallback inside", `(tenant_id = ( SELECT fallback() AS fallback))`, exprReport{Reads: true}},
		{"other schema", `(tenant_id = ( SELECT other.current_tenant() AS current_tenant))`, exprReport{Opaque: true}},
		{"with arguments", `(tenant_id = current_tenant(tenant_id))`, exprReport{Opaque: true}},
		{"recursive", `(tenant_id = loop())`, exprReport{Opaque: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := analyzeExpr(tc.expr, "tenant_id", "app.tenant_id", helpers)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("analyzeExpr(%s)\n got %+v\nwant %+v", tc.expr, got, tc.want)
			}
		})
	}
	if _, err := parseExpr(`SELECT NULLIF(current_setting('app.tenant_id', true), '') WHERE false`); err == nil {
		t.Error("a body with WHERE taken as a helper")
	}
}

func TestAnalyzeExprError(t *testing.T) {
	for _, expr := range []string{`(`, `1; DROP TABLE x`, `1, 2`} {
		if _, err := analyzeExpr(expr, "tenant_id", "app.tenant_id", nil); err == nil {
			t.Errorf("analyzeExpr(%q): no error", expr)
		}
	}
}

func TestSeverity(t *testing.T) {
	for i, n := range []string{"low", "medium", "high", "critical"} {
		s, err := ParseSeverity(n)
		if err != nil || s != Severity(i) || s.String() != n {
			t.Errorf("ParseSeverity(%q) = %v, %v", n, s, err)
		}
	}
	if _, err := ParseSeverity("severe"); err == nil {
		t.Error("ParseSeverity(severe): no error")
	}
	if len(Kinds) != 18 {
		t.Errorf("%d kinds", len(Kinds))
	}
}

func TestSourceWords(t *testing.T) {
	w := sourceWords(`BEGIN RETURN (SELECT count(*) FROM "Billing"."Get ""All"" Invoices" JOIN public.line_items USING (id)); END -- café_x`)
	for _, in := range []string{"begin", "billing", `get "all" invoices`, "line_items", "public", "café_x", "invoices"} {
		if !w[in] {
			t.Errorf("%q not a word of the source: %v", in, w)
		}
	}
	for _, out := range []string{"line", "items", "invoice", "café"} {
		if w[out] {
			t.Errorf("%q is a word of the source", out)
		}
	}
}
