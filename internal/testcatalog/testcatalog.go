// Package testcatalog is the guard's catalog of the test schema
// (internal/guardcases), for the tests of the guard and the rewrite.
package testcatalog

import "github.com/pgx-tenant/pgx-tenant/guard"

// New returns the catalog of guardcases.Schema, as discovery builds it (the
// driver's TestDiscover checks that it does).
func New() *guard.Catalog {
	return guard.NewCatalog("tenant_id", []string{"public"},
		guard.Relation{Schema: "public", Name: "invoices", Owned: true, Position: 2},
		guard.Relation{Schema: "public", Name: "customers", Owned: true, Position: 2},
		guard.Relation{Schema: "public", Name: "line_items", Owned: true, Position: 2},
		guard.Relation{Schema: "public", Name: "events", Owned: true, Position: 2, DefaultReadsSetting: true},
		guard.Relation{Schema: "audit", Name: "log", Owned: true, Position: 2},
		guard.Relation{Schema: "public", Name: "invoice_summary", Owned: true, Position: 1},
		guard.Relation{Schema: "public", Name: "revenue", Hidden: true},
		guard.Relation{Schema: "public", Name: "countries"},
		guard.Relation{Schema: "public", Name: "plans"},
	)
}
