package driver_test

import (
	"testing"

	"github.com/pgx-tenant/pgx-tenant/internal/pgtest"
)

// TestPgBouncerTransactionScope runs the concurrency isolation workload,
// database/sql prepared statements included (db.Prepare, tx.Stmt, and plain
// calls sharing a prepared statement's text), through PgBouncer 1.18 in
// transaction pooling mode, where consecutive transactions of one client
// land on different server connections and named prepared statements
// cannot be routed. With tenant_pooler=transaction every exec mode works:
// pgx's default cache_statement runs as cache_describe.
func TestPgBouncerTransactionScope(t *testing.T) {
	if testing.Short() {
		t.Skip("long")
	}
	for _, mode := range execModes {
		t.Run(mode, func(t *testing.T) {
			d := schema(t)
			bouncer := pgtest.NewPgBouncer(t, d, 3)
			t.Logf("%s", bouncer.Version)
			db := openDSN(t, withKeys(bouncer.AppDSN, "tenant_pooler=transaction", "default_query_exec_mode="+mode))
			db.SetMaxOpenConns(8) // more clients than the 3 server connections
			isolationWorkload(t, db, openAdmin(t, d), 32, 300, true)
		})
	}
}

// TestPgBouncerSessionScopeLeaks shows why session scope must not be used
// behind a transaction-pooling PgBouncer: the server connection, and with
// it the session setting, is shared with other clients, so a client's
// memory of "the server holds my tenant" is wrong and it reads another
// tenant's rows. Transaction scope under the same conditions is correct.
func TestPgBouncerSessionScopeLeaks(t *testing.T) {
	d := schema(t)
	bouncer := pgtest.NewPgBouncer(t, d, 1) // one server connection for everybody
	dsn := withKeys(bouncer.AppDSN, "default_query_exec_mode=exec")

	run := func(scope string) map[string]int {
		a := openDSN(t, withKeys(dsn, "tenant_scope="+scope))
		b := openDSN(t, withKeys(dsn, "tenant_scope="+scope))
		a.SetMaxOpenConns(1)
		b.SetMaxOpenConns(1)
		tenantsSeen(t, a, ctxFor(1), "SELECT tenant_id FROM items") // a binds t01
		tenantsSeen(t, b, ctxFor(5), "SELECT tenant_id FROM items") // b binds t05 on the same server connection
		return tenantsSeen(t, a, ctxFor(1), "SELECT tenant_id FROM items")
	}

	leaked := run("session")
	if leaked[tenantName(5)] == 0 {
		t.Fatalf("expected session scope behind PgBouncer to read tenant t05's rows for t01, got %v; "+
			"if this no longer leaks, revisit the README warning", leaked)
	}
	t.Logf("session scope behind PgBouncer: statement for t01 read %v", leaked)

	wantOnly(t, run("transaction"), 1, itemsOf(1))
}
