package metrics_test

import (
	"context"
	"database/sql"
	"testing"

	"github.com/jackc/pgx/v5"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/pgx-tenant/pgx-tenant/driver"
	"github.com/pgx-tenant/pgx-tenant/guard"
	"github.com/pgx-tenant/pgx-tenant/internal/guardcases"
	"github.com/pgx-tenant/pgx-tenant/internal/pgtest"
	"github.com/pgx-tenant/pgx-tenant/metrics"
	"github.com/pgx-tenant/pgx-tenant/tenant"
)

func TestMain(m *testing.M) { pgtest.Exit(m) }

// TestMetrics runs statements through the driver under audit and reads
// the instruments with the SDK's manual reader: events per kind and
// table, what enforce would have refused, and one decision duration per
// guarded statement.
func TestMetrics(t *testing.T) {
	d := pgtest.NewDatabase(t)
	ctx := context.Background()
	if err := d.ExecOwner(ctx, append(append([]string(nil), guardcases.Schema...),
		"GRANT USAGE ON SCHEMA audit TO "+d.AppRole,
		"GRANT SELECT ON ALL TABLES IN SCHEMA public, audit TO "+d.AppRole)...); err != nil {
		t.Fatal(err)
	}
	reader := sdkmetric.NewManualReader()
	m, err := metrics.New(sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader)).Meter("test"))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := pgx.ParseConfig(d.AppDSN)
	if err != nil {
		t.Fatal(err)
	}
	c, err := driver.NewConnector(*cfg, driver.WithGuard(guard.Audit),
		driver.WithEventHandler(m.Handler(nil)), driver.WithDecisionTimer(m.RecordDecision))
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(c)
	defer db.Close()
	tctx := tenant.NewContext(ctx, "t01")
	for _, q := range []string{
		"SELECT * FROM invoices", "SELECT * FROM invoices", "SELECT * FROM customers", // unscoped: reported
		"SELECT * FROM invoices WHERE tenant_id = 't01'", // scoped
	} {
		rows, err := db.QueryContext(tctx, q)
		if err != nil {
			t.Fatal(err)
		}
		rows.Close()
	}
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(ctx, &rm); err != nil {
		t.Fatal(err)
	}
	sums := map[string]map[string]int64{} // instrument → table → value
	var decisions uint64
	for _, sm := range rm.ScopeMetrics {
		for _, mt := range sm.Metrics {
			switch data := mt.Data.(type) {
			case metricdata.Sum[int64]:
				for _, p := range data.DataPoints {
					table, _ := p.Attributes.Value("table")
					if sums[mt.Name] == nil {
						sums[mt.Name] = map[string]int64{}
					}
					sums[mt.Name][table.AsString()] += p.Value
				}
			case metricdata.Histogram[float64]:
				for _, p := range data.DataPoints {
					decisions += p.Count
				}
			}
		}
	}
	want := map[string]int64{"invoices": 2, "customers": 1}
	for _, name := range []string{metrics.EventsName, metrics.WouldBlockName} {
		for table, n := range want {
			if sums[name][table] != n {
				t.Errorf("%s{table=%s} = %d, want %d (all: %v)", name, table, sums[name][table], n, sums)
			}
		}
	}
	if decisions != 4 {
		t.Errorf("%d decisions timed, want 4", decisions)
	}
}
