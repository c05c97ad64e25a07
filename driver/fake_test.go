package driver

import (
	"context"
	"database/sql"
	sqldriver "database/sql/driver"
	"errors"
	"fmt"
	"io"
	"maps"
	"reflect"
	"strings"
	"testing"

	"github.com/DATA-DOG/go-sqlmock"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/pgx-tenant/pgx-tenant/tenant"
)

// fakeConnector opens fakeConns that log every call the wrapper makes, so
// tests can see exactly what would reach the server, and in what order.
type fakeConnector struct {
	log    *[]string
	failOn string // a call whose text contains this fails
	reset  error  // returned by ResetSession
}

func (f *fakeConnector) Connect(context.Context) (sqldriver.Conn, error) {
	return &fakeConn{f: f}, nil
}
func (f *fakeConnector) Driver() sqldriver.Driver { return nil }

type fakeConn struct{ f *fakeConnector }

func (c *fakeConn) record(format string, args ...any) error {
	s := fmt.Sprintf(format, args...)
	*c.f.log = append(*c.f.log, s)
	if c.f.failOn != "" && strings.Contains(s, c.f.failOn) {
		return errors.New("fake failure: " + s)
	}
	return nil
}

func argList(args []sqldriver.NamedValue) string {
	if len(args) == 0 {
		return ""
	}
	var parts []string
	for _, a := range args {
		parts = append(parts, fmt.Sprint(a.Value))
	}
	return " [" + strings.Join(parts, " ") + "]"
}

func (c *fakeConn) Prepare(q string) (sqldriver.Stmt, error) { panic("legacy Prepare") }
func (c *fakeConn) Close() error                             { return nil }
func (c *fakeConn) Begin() (sqldriver.Tx, error)             { panic("legacy Begin") }
func (c *fakeConn) BeginTx(ctx context.Context, _ sqldriver.TxOptions) (sqldriver.Tx, error) {
	if err := c.record("begin"); err != nil {
		return nil, err
	}
	return fakeTx{c}, nil
}
func (c *fakeConn) ExecContext(_ context.Context, q string, args []sqldriver.NamedValue) (sqldriver.Result, error) {
	if err := c.record("exec %s%s", q, argList(args)); err != nil {
		return nil, err
	}
	return sqldriver.RowsAffected(1), nil
}
func (c *fakeConn) QueryContext(_ context.Context, q string, args []sqldriver.NamedValue) (sqldriver.Rows, error) {
	if err := c.record("query %s%s", q, argList(args)); err != nil {
		return nil, err
	}
	return &fakeRows{c: c, left: 2}, nil
}
func (c *fakeConn) PrepareContext(_ context.Context, q string) (sqldriver.Stmt, error) {
	if err := c.record("prepare %s", q); err != nil {
		return nil, err
	}
	return &fakeStmt{c: c, q: q}, nil
}
func (c *fakeConn) Ping(context.Context) error                  { return c.record("ping") }
func (c *fakeConn) CheckNamedValue(*sqldriver.NamedValue) error { return nil }
func (c *fakeConn) ResetSession(context.Context) error          { c.record("reset"); return c.f.reset }

type fakeTx struct{ c *fakeConn }

func (t fakeTx) Commit() error   { return t.c.record("commit") }
func (t fakeTx) Rollback() error { return t.c.record("rollback") }

type fakeStmt struct {
	c *fakeConn
	q string
}

func (s *fakeStmt) Close() error                                     { return s.c.record("close %s", s.q) }
func (s *fakeStmt) NumInput() int                                    { return -1 }
func (s *fakeStmt) Exec([]sqldriver.Value) (sqldriver.Result, error) { panic("legacy") }
func (s *fakeStmt) Query([]sqldriver.Value) (sqldriver.Rows, error)  { panic("legacy") }
func (s *fakeStmt) ExecContext(_ context.Context, args []sqldriver.NamedValue) (sqldriver.Result, error) {
	if err := s.c.record("stmt.exec %s%s", s.q, argList(args)); err != nil {
		return nil, err
	}
	return sqldriver.RowsAffected(1), nil
}
func (s *fakeStmt) QueryContext(_ context.Context, args []sqldriver.NamedValue) (sqldriver.Rows, error) {
	if err := s.c.record("stmt.query %s%s", s.q, argList(args)); err != nil {
		return nil, err
	}
	return &fakeRows{c: s.c, left: 1}, nil
}

type fakeRows struct {
	c    *fakeConn
	left int
}

func (r *fakeRows) Columns() []string { return []string{"x"} }
func (r *fakeRows) Close() error      { return r.c.record("rows.close") }
func (r *fakeRows) Next(dest []sqldriver.Value) error {
	if r.left == 0 {
		return io.EOF
	}
	r.left--
	dest[0] = int64(r.left)
	return nil
}

// fakeDB opens a *sql.DB over the fake with one connection.
func fakeDB(t *testing.T, f *fakeConnector, opts ...Option) *sql.DB {
	t.Helper()
	cfg := defaultConfig()
	for _, o := range opts {
		o(&cfg)
	}
	if err := cfg.validate(nil); err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(newConnector(f, cfg))
	db.SetMaxOpenConns(1)
	t.Cleanup(func() { db.Close() })
	return db
}

func acme() context.Context { return tenant.NewContext(context.Background(), "acme") }
func initech() context.Context {
	return tenant.NewContext(context.Background(), "initech")
}

func wantLog(t *testing.T, log *[]string, want ...string) {
	t.Helper()
	if !reflect.DeepEqual(*log, want) && !(len(*log) == 0 && len(want) == 0) {
		t.Fatalf("calls:\n  %s\nwant:\n  %s", strings.Join(*log, "\n  "), strings.Join(want, "\n  "))
	}
	*log = nil
}

const (
	setLocalAcme = "exec SELECT pg_catalog.set_config($1, $2, true) [app.tenant_id acme]"
	setLocalNone = "exec SELECT pg_catalog.set_config($1, $2, true) [app.tenant_id ]"
)

func TestTransactionScopeCalls(t *testing.T) {
	var log []string
	db := fakeDB(t, &fakeConnector{log: &log})

	if _, err := db.ExecContext(acme(), "UPDATE items SET val = 1"); err != nil {
		t.Fatal(err)
	}
	wantLog(t, &log, "exec BEGIN", setLocalAcme, "exec UPDATE items SET val = 1", "exec COMMIT")

	// No tenant: the setting is cleared inside the transaction, never skipped.
	if _, err := db.ExecContext(context.Background(), "UPDATE items SET val = 1"); err != nil {
		t.Fatal(err)
	}
	wantLog(t, &log, "reset", "exec BEGIN", setLocalNone, "exec UPDATE items SET val = 1", "exec COMMIT")

	// A query's transaction ends when its rows do.
	rows, err := db.QueryContext(acme(), "SELECT x FROM items")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for rows.Next() {
		n++
	}
	if err := rows.Err(); err != nil || n != 2 {
		t.Fatalf("rows: n=%d err=%v", n, err)
	}
	rows.Close()
	wantLog(t, &log, "reset", "exec BEGIN", setLocalAcme, "query SELECT x FROM items", "rows.close", "exec COMMIT")

	// Statements that refuse a transaction block run as they are.
	if _, err := db.ExecContext(acme(), "CREATE INDEX CONCURRENTLY i ON items (val)"); err != nil {
		t.Fatal(err)
	}
	wantLog(t, &log, "reset", "exec CREATE INDEX CONCURRENTLY i ON items (val)")

	// Explicit transactions are bound once, right after BEGIN.
	tx, err := db.BeginTx(acme(), nil)
	if err != nil {
		t.Fatal(err)
	}
	tx.ExecContext(acme(), "DELETE FROM items")
	tx.Commit()
	wantLog(t, &log, "reset", "begin", setLocalAcme, "exec DELETE FROM items", "commit")
}

func TestTransactionScopeFailures(t *testing.T) {
	var log []string
	f := &fakeConnector{log: &log, failOn: "boom"}
	db := fakeDB(t, f)

	if _, err := db.ExecContext(acme(), "SELECT boom"); err == nil {
		t.Fatal("want error")
	}
	wantLog(t, &log, "exec BEGIN", setLocalAcme, "exec SELECT boom", "exec ROLLBACK")

	if _, err := db.QueryContext(acme(), "SELECT boom"); err == nil {
		t.Fatal("want error")
	}
	wantLog(t, &log, "reset", "exec BEGIN", setLocalAcme, "query SELECT boom", "exec ROLLBACK")

	// A failing COMMIT reaches rows.Err instead of being lost at EOF.
	f.failOn = "COMMIT"
	rows, err := db.QueryContext(acme(), "SELECT x FROM items")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
	}
	if err := rows.Err(); err == nil || !strings.Contains(err.Error(), "COMMIT") {
		t.Fatalf("rows.Err() = %v, want the COMMIT failure", err)
	}
	rows.Close()
	log = nil

	// A failing set_config leaves no transaction open.
	f.failOn = "set_config"
	if _, err := db.ExecContext(acme(), "SELECT 1"); err == nil {
		t.Fatal("want error")
	}
	wantLog(t, &log, "reset", "exec BEGIN", setLocalAcme, "exec ROLLBACK")
}

func TestSessionScopeCalls(t *testing.T) {
	var log []string
	f := &fakeConnector{log: &log}
	db := fakeDB(t, f, WithScope(ScopeSession))
	set := func(id string) string {
		return "exec SELECT pg_catalog.set_config($1, $2, false) [app.tenant_id " + id + "]"
	}

	db.ExecContext(acme(), "SELECT 1")
	db.ExecContext(acme(), "SELECT 2")
	db.ExecContext(initech(), "SELECT 3")
	db.ExecContext(context.Background(), "SELECT 4")
	db.ExecContext(context.Background(), "SELECT 5")
	wantLog(t, &log,
		set("acme"), "exec SELECT 1",
		"reset", "exec SELECT 2",
		"reset", set("initech"), "exec SELECT 3",
		"reset", set(""), "exec SELECT 4",
		"reset", "exec SELECT 5")

	// A failed statement forgets what the session holds.
	f.failOn = "boom"
	db.ExecContext(acme(), "SELECT boom")
	db.ExecContext(acme(), "SELECT 6")
	wantLog(t, &log, "reset", set("acme"), "exec SELECT boom", "reset", set("acme"), "exec SELECT 6")

	// So do opaque code and transaction control.
	db.ExecContext(acme(), "DO $$ BEGIN NULL; END $$")
	db.ExecContext(acme(), "SELECT 7")
	wantLog(t, &log, "reset", "exec DO $$ BEGIN NULL; END $$", "reset", set("acme"), "exec SELECT 7")

	// Transactions are bound before BEGIN, so a rollback cannot undo it.
	tx, _ := db.BeginTx(initech(), nil)
	tx.ExecContext(initech(), "SELECT 8")
	tx.Rollback()
	db.ExecContext(initech(), "SELECT 9")
	wantLog(t, &log, "reset", set("initech"), "begin", "exec SELECT 8", "rollback", "reset", "exec SELECT 9")
}

func TestPreparedStatementCalls(t *testing.T) {
	var log []string
	db := fakeDB(t, &fakeConnector{log: &log})
	stmt, err := db.PrepareContext(context.Background(), "SELECT x FROM items WHERE id = $1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := stmt.ExecContext(acme(), 1); err != nil {
		t.Fatal(err)
	}
	stmt.Close()
	wantLog(t, &log, "prepare SELECT x FROM items WHERE id = $1",
		"reset", "exec BEGIN", setLocalAcme, "stmt.exec SELECT x FROM items WHERE id = $1 [1]", "exec COMMIT",
		"close SELECT x FROM items WHERE id = $1")
}

// TestRefusalsSendNothing checks that tenant and tamper decisions are made
// before any call reaches the connection, and never look like ErrBadConn.
func TestRefusalsSendNothing(t *testing.T) {
	var log []string
	db := fakeDB(t, &fakeConnector{log: &log}, WithRequired(true))
	conn, err := db.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	wantLog(t, &log)

	bad := tenant.NewContext(context.Background(), "ac\x00me")
	cases := []struct {
		name string
		err  error
		want error
	}{}
	add := func(name string, err, want error) {
		cases = append(cases, struct {
			name string
			err  error
			want error
		}{name, err, want})
	}
	_, err = conn.ExecContext(context.Background(), "SELECT 1")
	add("no tenant", err, ErrNoTenant)
	_, err = conn.QueryContext(bad, "SELECT 1")
	add("invalid tenant", err, tenant.ErrInvalidID)
	_, err = conn.BeginTx(bad, nil)
	add("invalid tenant BeginTx", err, tenant.ErrInvalidID)
	_, err = conn.ExecContext(acme(), "SELECT 1; SELECT set_config('app.tenant_id', 'x', false)")
	add("tamper", err, ErrTamper)
	_, err = conn.PrepareContext(acme(), "RESET ALL")
	add("tamper prepare", err, ErrTamper)
	_, err = conn.ExecContext(acme(), "UPDAT items SET x = 1")
	add("syntax", err, ErrInvalidSQL)
	for _, c := range cases {
		if !errors.Is(c.err, c.want) {
			t.Errorf("%s: err = %v, want %v", c.name, c.err, c.want)
		}
		if errors.Is(c.err, sqldriver.ErrBadConn) {
			t.Errorf("%s: looks like ErrBadConn", c.name)
		}
	}
	wantLog(t, &log)

	tx, err := conn.BeginTx(acme(), nil)
	if err != nil {
		t.Fatal(err)
	}
	log = nil
	if _, err := tx.ExecContext(initech(), "SELECT 1"); !errors.Is(err, ErrTenantMismatch) {
		t.Fatalf("mismatch: err = %v", err)
	}
	for _, sql := range []string{"COMMIT", "ROLLBACK", "END", "SELECT 1; COMMIT"} {
		if _, err := tx.ExecContext(acme(), sql); !errors.Is(err, ErrTxControl) {
			t.Fatalf("%q in a Tx: err = %v, want ErrTxControl", sql, err)
		}
	}
	wantLog(t, &log)
	// The transaction is bound with its first statement.
	if _, err := tx.ExecContext(acme(), "SELECT 1"); err != nil {
		t.Fatal(err)
	}
	tx.Commit()
	wantLog(t, &log, "exec SELECT pg_catalog.set_config($1, $2, true) [app.tenant_id acme]", "exec SELECT 1", "commit")
}

func TestResetSession(t *testing.T) {
	var log []string
	f := &fakeConnector{log: &log, reset: sqldriver.ErrBadConn}
	c, err := newConnector(f, defaultConfig()).Connect(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	conn := c.(*Conn)
	if _, err := conn.BeginTx(acme(), sqldriver.TxOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := conn.ResetSession(context.Background()); !errors.Is(err, sqldriver.ErrBadConn) {
		t.Fatalf("ResetSession = %v, want the wrapped driver's ErrBadConn", err)
	}
	if conn.tx != nil {
		t.Fatal("ResetSession kept the transaction pin")
	}
}

// newerInterfaces are the optional interfaces of Go releases newer than the
// module's go line; build-tagged files add them (rows_go127_test.go).
var newerInterfaces = map[string]reflect.Type{}

// TestOptionalInterfacesMatchStdlib checks that each wrapper type implements
// exactly the optional interfaces of the pgx stdlib type it wraps: a missing
// one loses a feature, an extra one changes database/sql's behaviour (an
// IsValid, for example, makes it keep connections after a cancelled Tx).
func TestOptionalInterfacesMatchStdlib(t *testing.T) {
	ifaces := map[string]reflect.Type{
		"Conn":                           reflect.TypeFor[sqldriver.Conn](),
		"ConnBeginTx":                    reflect.TypeFor[sqldriver.ConnBeginTx](),
		"ConnPrepareContext":             reflect.TypeFor[sqldriver.ConnPrepareContext](),
		"Execer":                         reflect.TypeFor[sqldriver.Execer](),
		"ExecerContext":                  reflect.TypeFor[sqldriver.ExecerContext](),
		"Queryer":                        reflect.TypeFor[sqldriver.Queryer](),
		"QueryerContext":                 reflect.TypeFor[sqldriver.QueryerContext](),
		"Pinger":                         reflect.TypeFor[sqldriver.Pinger](),
		"NamedValueChecker":              reflect.TypeFor[sqldriver.NamedValueChecker](),
		"SessionResetter":                reflect.TypeFor[sqldriver.SessionResetter](),
		"Validator":                      reflect.TypeFor[sqldriver.Validator](),
		"Stmt":                           reflect.TypeFor[sqldriver.Stmt](),
		"StmtExecContext":                reflect.TypeFor[sqldriver.StmtExecContext](),
		"StmtQueryContext":               reflect.TypeFor[sqldriver.StmtQueryContext](),
		"ColumnConverter":                reflect.TypeFor[sqldriver.ColumnConverter](),
		"Rows":                           reflect.TypeFor[sqldriver.Rows](),
		"RowsNextResultSet":              reflect.TypeFor[sqldriver.RowsNextResultSet](),
		"RowsColumnTypeDatabaseTypeName": reflect.TypeFor[sqldriver.RowsColumnTypeDatabaseTypeName](),
		"RowsColumnTypeLength":           reflect.TypeFor[sqldriver.RowsColumnTypeLength](),
		"RowsColumnTypeNullable":         reflect.TypeFor[sqldriver.RowsColumnTypeNullable](),
		"RowsColumnTypePrecisionScale":   reflect.TypeFor[sqldriver.RowsColumnTypePrecisionScale](),
		"RowsColumnTypeScanType":         reflect.TypeFor[sqldriver.RowsColumnTypeScanType](),
	}
	maps.Copy(ifaces, newerInterfaces)
	pairs := []struct{ ours, theirs reflect.Type }{
		{reflect.TypeFor[*Conn](), reflect.TypeFor[*stdlib.Conn]()},
		{reflect.TypeFor[*stmt](), reflect.TypeFor[*stdlib.Stmt]()},
		{reflect.TypeFor[*txRows](), reflect.TypeFor[*stdlib.Rows]()},
		{reflect.TypeFor[*pipeRows](), reflect.TypeFor[*stdlib.Rows]()},
	}
	for _, p := range pairs {
		for name, it := range ifaces {
			if p.ours.Implements(it) != p.theirs.Implements(it) {
				t.Errorf("%v implements %s: %v; %v: %v", p.ours, name, p.ours.Implements(it), p.theirs, p.theirs.Implements(it))
			}
		}
	}
}

// TestGenericPathSQL checks, with go-sqlmock as the wrapped driver, the exact
// SQL and arguments the driver sends around a statement.
func TestGenericPathSQL(t *testing.T) {
	mockDB, mock, err := sqlmock.NewWithDSN("pgx-tenant-generic", sqlmock.QueryMatcherOption(sqlmock.QueryMatcherEqual))
	if err != nil {
		t.Fatal(err)
	}
	defer mockDB.Close()
	inner, err := mockDB.Driver().Open("pgx-tenant-generic")
	if err != nil {
		t.Fatal(err)
	}
	cfg := defaultConfig()
	cfg.setting = "myapp.org_id"
	db := sql.OpenDB(newConnector(connectorFunc(func() sqldriver.Conn { return inner }), cfg))
	defer db.Close()

	mock.ExpectExec("BEGIN").WillReturnResult(sqlmock.NewResult(0, 0))
	mock.ExpectExec("SELECT pg_catalog.set_config($1, $2, true)").WithArgs("myapp.org_id", "acme' OR '1'='1").WillReturnResult(sqlmock.NewResult(0, 1))
	mock.ExpectExec("DELETE FROM items WHERE id = $1").WithArgs(42).WillReturnResult(sqlmock.NewResult(0, 1))
	mock.ExpectExec("COMMIT").WillReturnResult(sqlmock.NewResult(0, 0))

	ctx := tenant.NewContext(context.Background(), "acme' OR '1'='1")
	if _, err := db.ExecContext(ctx, "DELETE FROM items WHERE id = $1", 42); err != nil {
		t.Fatal(err)
	}
	if err := mock.ExpectationsWereMet(); err != nil {
		t.Fatal(err)
	}
}

type connectorFunc func() sqldriver.Conn

func (f connectorFunc) Connect(context.Context) (sqldriver.Conn, error) { return f(), nil }
func (f connectorFunc) Driver() sqldriver.Driver                        { return nil }
