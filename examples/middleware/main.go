// Command middleware shows pgx-tenant composed with other database/sql
// middleware: OpenTelemetry tracing (github.com/XSAM/otelsql) and a
// statement-logging interceptor (github.com/ngrok/sqlmw). Both go on top:
// they wrap the pgx-tenant driver, whose tenant binding happens below them
// on every call that carries the context.
//
//	go run ./examples/middleware
package main

import (
	"context"
	"database/sql"
	sqldriver "database/sql/driver"
	"fmt"
	"log"
	"strings"
	"sync"

	"github.com/XSAM/otelsql"
	"github.com/ngrok/sqlmw"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/pgx-tenant/pgx-tenant/driver"
	"github.com/pgx-tenant/pgx-tenant/examples/internal/shop"
	"github.com/pgx-tenant/pgx-tenant/tenant"
)

// openTraced puts otelsql over pgx-tenant: otelsql.Open looks the driver up
// by name and wraps its connector, so every span carries the statement and
// the tenant binding still happens inside.
func openTraced(dsn string, tp *sdktrace.TracerProvider) (*sql.DB, error) {
	return otelsql.Open("pgx-tenant", dsn, otelsql.WithTracerProvider(tp))
}

// statementLog is a sqlmw interceptor that records each statement.
type statementLog struct {
	sqlmw.NullInterceptor
	mu    sync.Mutex
	lines []string
}

func (l *statementLog) record(ctx context.Context, query string) {
	id, _ := tenant.FromContext(ctx)
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, fmt.Sprintf("tenant=%s sql=%s", id, strings.Join(strings.Fields(query), " ")))
}

func (l *statementLog) ConnQueryContext(ctx context.Context, conn sqldriver.QueryerContext, query string, args []sqldriver.NamedValue) (context.Context, sqldriver.Rows, error) {
	l.record(ctx, query)
	rows, err := conn.QueryContext(ctx, query, args)
	return ctx, rows, err
}

func (l *statementLog) ConnExecContext(ctx context.Context, conn sqldriver.ExecerContext, query string, args []sqldriver.NamedValue) (sqldriver.Result, error) {
	l.record(ctx, query)
	return conn.ExecContext(ctx, query, args)
}

// Lines returns what was logged so far.
func (l *statementLog) Lines() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.lines...)
}

// statements is the log of the "pgx-tenant+log" driver, which sqlmw
// builds by wrapping the pgx-tenant driver value with the interceptor.
var statements = &statementLog{}

func init() {
	sql.Register("pgx-tenant+log", sqlmw.Driver(&driver.Driver{}, statements))
}

// openLogged opens the sqlmw-wrapped driver.
func openLogged(dsn string) (*sql.DB, error) { return sql.Open("pgx-tenant+log", dsn) }

// names lists author names as the context's tenant.
func names(ctx context.Context, db *sql.DB) ([]string, error) {
	rows, err := db.QueryContext(ctx, `SELECT tenant_id || ':' || name FROM authors ORDER BY id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

func run(ctx context.Context) error {
	d, done, err := shop.Open(ctx)
	if err != nil {
		return err
	}
	defer done()

	recorder := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(recorder))
	traced, err := openTraced(d.AppDSN, tp)
	if err != nil {
		return err
	}
	defer traced.Close()
	logged, err := openLogged(d.AppDSN)
	if err != nil {
		return err
	}
	defer logged.Close()

	acme := tenant.NewContext(ctx, "acme")
	globex := tenant.NewContext(ctx, "globex")
	if _, err := traced.ExecContext(acme, `INSERT INTO authors (name) VALUES ('Ursula')`); err != nil {
		return err
	}
	if _, err := logged.ExecContext(globex, `INSERT INTO authors (name) VALUES ('Stanisław')`); err != nil {
		return err
	}
	for _, db := range []*sql.DB{traced, logged} {
		for _, c := range []context.Context{acme, globex} {
			got, err := names(c, db)
			if err != nil {
				return err
			}
			id, _ := tenant.FromContext(c)
			fmt.Printf("%s sees %v\n", id, got)
		}
	}
	fmt.Println("otelsql spans:")
	for _, s := range recorder.Ended() {
		for _, kv := range s.Attributes() {
			if strings.HasPrefix(string(kv.Key), "db.") && strings.Contains(kv.Value.Emit(), "authors") {
				fmt.Printf("  %s %s=%q\n", s.Name(), kv.Key, kv.Value.Emit())
			}
		}
	}
	fmt.Println("sqlmw log:")
	for _, l := range statements.Lines() {
		fmt.Println("  " + l)
	}
	return nil
}

func main() {
	if err := run(context.Background()); err != nil {
		log.Fatal(err)
	}
}
