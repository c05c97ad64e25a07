package tenanthttp_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgx-tenant/pgx-tenant/driver"
	"github.com/pgx-tenant/pgx-tenant/event"
	"github.com/pgx-tenant/pgx-tenant/internal/pgtest"
	"github.com/pgx-tenant/pgx-tenant/tenant"
	"github.com/pgx-tenant/pgx-tenant/tenanthttp"
)

const policy = `tenant_id = (SELECT NULLIF(current_setting('app.tenant_id', true), ''))`

// invoiceDB creates invoices with RLS (enabled, forced, the README's
// policy) and two tenants' rows, and opens it as the ordinary app role
// through the pgx-tenant driver.
func invoiceDB(tb testing.TB) (*pgtest.Database, *sql.DB) {
	tb.Helper()
	d := pgtest.NewDatabase(tb)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := d.ExecOwner(ctx,
		`CREATE TABLE invoices (id serial PRIMARY KEY, tenant_id text NOT NULL, customer text NOT NULL)`,
		`ALTER TABLE invoices ENABLE ROW LEVEL SECURITY`,
		`ALTER TABLE invoices FORCE ROW LEVEL SECURITY`,
		`CREATE POLICY isolation ON invoices USING (`+policy+`) WITH CHECK (`+policy+`)`,
	); err != nil {
		tb.Fatal(err)
	}
	if err := d.Exec(ctx, `INSERT INTO invoices (tenant_id, customer) VALUES
		('acme', 'Road Runner'), ('acme', 'Coyote'), ('globex', 'Hank Scorpio')`); err != nil {
		tb.Fatal(err)
	}
	db, err := sql.Open("pgx-tenant", d.AppDSN)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	db.SetMaxOpenConns(2) // tenants share connections
	return d, db
}

// invoiceApp is the application behind the middleware. It is naive on
// purpose: when the context has no tenant it falls back to the
// X-Tenant-ID header, as legacy code might, so the test proves the
// middleware removed that header.
func invoiceApp(db *sql.DB) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /invoices", func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		if _, ok := tenant.FromContext(ctx); !ok {
			if h := r.Header.Get("X-Tenant-ID"); h != "" {
				ctx = tenant.NewContext(ctx, h)
			}
		}
		rows, err := db.QueryContext(ctx, `SELECT tenant_id || ':' || customer FROM invoices ORDER BY id`)
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		defer rows.Close()
		out := []string{}
		for rows.Next() {
			var s string
			if err := rows.Scan(&s); err != nil {
				http.Error(w, err.Error(), 500)
				return
			}
			out = append(out, s)
		}
		if err := rows.Err(); err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		json.NewEncoder(w).Encode(out)
	})
	mux.HandleFunc("POST /invoices", func(w http.ResponseWriter, r *http.Request) {
		// The client names the row's tenant_id: RLS's WITH CHECK refuses
		// any but the request's tenant.
		_, err := db.ExecContext(r.Context(), `INSERT INTO invoices (tenant_id, customer) VALUES ($1, $2)`,
			r.FormValue("tenant_id"), r.FormValue("customer"))
		if err != nil {
			http.Error(w, "refused", 500)
			return
		}
		w.WriteHeader(201)
	})
	return mux
}

func TestEndToEnd(t *testing.T) {
	d, db := invoiceDB(t)
	cookies := newCookies(t)
	events := &recorder{}
	opts := []tenanthttp.Option{
		tenanthttp.WithCookies(cookies),
		tenanthttp.WithSubdomain("example.com", resolveLabel),
		tenanthttp.WithPrincipal(principalOf),
		tenanthttp.WithMembership(isMember),
		tenanthttp.WithAllowedOrigins("https://example.com"),
		tenanthttp.WithEventHandler(events),
	}
	strict, err := tenanthttp.New(opts...)
	if err != nil {
		t.Fatal(err)
	}
	optional, err := tenanthttp.New(append(opts, tenanthttp.WithTenantRequired(false))...)
	if err != nil {
		t.Fatal(err)
	}
	switcher, err := strict.SwitchHandler()
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/switch", switcher)
	mux.Handle("/optional/", http.StripPrefix("/optional", optional.Handler(invoiceApp(db))))
	mux.Handle("/", strict.Handler(invoiceApp(db)))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	type req struct {
		method, path, host, principal, cookie, body string
		header                                      map[string]string
	}
	do := func(t *testing.T, q req) (int, string, *http.Response) {
		t.Helper()
		if q.method == "" {
			q.method = http.MethodGet
		}
		if q.host == "" {
			q.host = "example.com"
		}
		r, err := http.NewRequest(q.method, srv.URL+q.path, strings.NewReader(q.body))
		if err != nil {
			t.Fatal(err)
		}
		r.Host = q.host
		if q.principal != "" {
			r.Header.Set(principalHeader, q.principal)
		}
		if q.cookie != "" {
			r.Header.Set("Cookie", "tenant="+q.cookie)
		}
		for k, v := range q.header {
			r.Header.Set(k, v)
		}
		resp, err := srv.Client().Do(r)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, strings.TrimSpace(string(b)), resp
	}
	aliceAcme := sign(t, cookies, "alice", "acme")
	otherKey := newCookiesWith(t, testKey("k1", 66))
	acmeRows := `["acme:Road Runner","acme:Coyote"]`
	globexRows := `["globex:Hank Scorpio"]`

	tests := []struct {
		name       string
		req        req
		wantStatus int
		wantBody   string // for 200
		wantRule   string // of the refusal's event, "" for none
	}{
		{"alice's acme cookie reads acme", req{path: "/invoices", principal: "alice", cookie: aliceAcme}, 200, acmeRows, ""},
		{"spoofed X-Tenant-ID cannot read globex", req{path: "/invoices", principal: "alice", cookie: aliceAcme, header: map[string]string{"X-Tenant-ID": "globex", "X-Org-ID": "globex"}}, 200, acmeRows, ""},
		{"spoofed X_Tenant_ID cannot read globex", req{path: "/invoices", principal: "alice", cookie: aliceAcme, header: map[string]string{"X_Tenant_ID": "globex"}}, 200, acmeRows, ""},
		{"subdomain globex reads globex", req{path: "/invoices", host: "globex.example.com", principal: "alice"}, 200, globexRows, ""},
		{"subdomain acme with alice's acme cookie", req{path: "/invoices", host: "acme.example.com:443", principal: "alice", cookie: aliceAcme}, 200, acmeRows, ""},
		{"subdomain globex with acme cookie", req{path: "/invoices", host: "globex.example.com", principal: "alice", cookie: aliceAcme}, 403, "", tenanthttp.RuleSourcesDisagree},
		{"subdomain acme cannot be read by bob", req{path: "/invoices", host: "acme.example.com", principal: "bob"}, 403, "", tenanthttp.RuleNotMember},
		{"bob replaying alice's acme cookie", req{path: "/invoices", principal: "bob", cookie: aliceAcme}, 403, "", tenanthttp.RulePrincipalMismatch},
		{"bob's own acme cookie, not a member", req{path: "/invoices", principal: "bob", cookie: sign(t, cookies, "bob", "acme")}, 403, "", tenanthttp.RuleNotMember},
		{"cookie signed with another secret", req{path: "/invoices", principal: "bob", cookie: sign(t, otherKey, "bob", "acme")}, 403, "", tenanthttp.RuleBadSignature},
		{"foreign host", req{path: "/invoices", host: "acme.example.com.evil.test", principal: "alice"}, 403, "", tenanthttp.RuleBadHost},
		{"spoofed header alone, tenant required", req{path: "/invoices", principal: "alice", header: map[string]string{"X-Tenant-ID": "globex"}}, 403, "", tenanthttp.RuleNoTenant},
		{"spoofed header alone, tenant optional: the driver fails closed", req{path: "/optional/invoices", principal: "alice", header: map[string]string{"X-Tenant-ID": "globex"}}, 200, `[]`, ""},
		{"acme writing a globex row", req{method: http.MethodPost, path: "/invoices", principal: "alice", cookie: aliceAcme,
			header: map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, body: "tenant_id=globex&customer=sneaky"}, 500, "", ""},
	}
	// lastRule is the rule of the event the last request added ("" if none).
	lastRule := func(before int) string {
		evs := events.all()
		if len(evs) == before {
			return ""
		}
		return evs[len(evs)-1].Rule
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(events.all())
			status, body, _ := do(t, tt.req)
			if status != tt.wantStatus || (tt.wantStatus == 200 && body != tt.wantBody) {
				t.Fatalf("status %d body %s; want %d %s", status, body, tt.wantStatus, tt.wantBody)
			}
			if got := lastRule(before); got != tt.wantRule {
				t.Fatalf("event rule %q, want %q", got, tt.wantRule)
			}
			if status == 403 && strings.Contains(body, "Hank") {
				t.Fatalf("refusal leaks rows: %s", body)
			}
		})
	}

	t.Run("switch", func(t *testing.T) {
		hdr := map[string]string{"Origin": "https://example.com", "Content-Type": "application/json"}
		before := len(events.all())
		status, _, _ := do(t, req{method: http.MethodPost, path: "/switch", principal: "bob", body: `{"tenant":"acme"}`, header: hdr})
		if rule := lastRule(before); status != 403 || rule != tenanthttp.RuleNotMember {
			t.Fatalf("bob switching to acme: %d, rule %q", status, rule)
		}
		before = len(events.all())
		status, _, _ = do(t, req{method: http.MethodPost, path: "/switch", principal: "alice", body: `{"tenant":"globex"}`,
			header: map[string]string{"Origin": "https://evil.test", "Content-Type": "application/json"}})
		if rule := lastRule(before); status != 403 || rule != tenanthttp.RuleCrossOrigin {
			t.Fatalf("cross-origin switch: %d, rule %q", status, rule)
		}
		status, _, _ = do(t, req{path: "/switch", principal: "alice"})
		if status != 405 {
			t.Fatalf("GET /switch: %d", status)
		}
		status, _, resp := do(t, req{method: http.MethodPost, path: "/switch", principal: "alice", body: `{"tenant":"globex"}`, header: hdr})
		if status != 200 || len(resp.Cookies()) != 1 {
			t.Fatalf("alice switching to globex: %d %v", status, resp.Cookies())
		}
		c := resp.Cookies()[0]
		if !c.HttpOnly || c.Path != "/" || c.SameSite != http.SameSiteLaxMode {
			t.Fatalf("switch cookie %+v", c)
		}
		status, body, _ := do(t, req{path: "/invoices", principal: "alice", cookie: c.Value})
		if status != 200 || body != globexRows {
			t.Fatalf("after the switch: %d %s", status, body)
		}
	})

	// Nothing the refused requests tried was written.
	var counts []string
	rows, err := sqlOpenAdmin(t, d).Query(`SELECT tenant_id || '=' || count(*) FROM invoices GROUP BY tenant_id ORDER BY tenant_id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		counts = append(counts, s)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if want := []string{"acme=2", "globex=1"}; !slices.Equal(counts, want) {
		t.Fatalf("rows per tenant %v, want %v", counts, want)
	}
	var rules []string
	for _, e := range events.all() {
		rules = append(rules, e.Rule)
	}
	t.Logf("events: %v", rules)
	for _, want := range []string{tenanthttp.RuleSourcesDisagree, tenanthttp.RuleNotMember, tenanthttp.RulePrincipalMismatch, tenanthttp.RuleBadSignature, tenanthttp.RuleBadHost, tenanthttp.RuleNoTenant, tenanthttp.RuleCrossOrigin} {
		if !slices.Contains(rules, want) {
			t.Errorf("no %s event", want)
		}
	}
}

// sqlOpenAdmin opens d as the admin role (bypasses RLS) with plain pgx:
// to check what is really stored.
func sqlOpenAdmin(tb testing.TB, d *pgtest.Database) *sql.DB {
	tb.Helper()
	db, err := sql.Open("pgx", d.AdminDSN)
	if err != nil {
		tb.Fatal(fmt.Errorf("admin: %w", err))
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

// TestRequestIDReachesDriverEvents: the request ID the middleware puts in
// the context is the one the driver's events carry — here an RLS refusal of
// a write naming another tenant.
func TestRequestIDReachesDriverEvents(t *testing.T) {
	d, _ := invoiceDB(t)
	cfg, err := pgx.ParseConfig(d.AppDSN)
	if err != nil {
		t.Fatal(err)
	}
	seen := &recorder{}
	db, err := driver.OpenDB(*cfg, driver.WithEventHandler(seen))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	cookies := newCookies(t)
	mw, err := tenanthttp.New(tenanthttp.WithCookies(cookies), tenanthttp.WithPrincipal(principalOf), tenanthttp.WithMembership(isMember))
	if err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest(http.MethodPost, "http://example.com/invoices", strings.NewReader("tenant_id=globex&customer=sneaky"))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.Header.Set(principalHeader, "alice")
	r.Header.Set("Cookie", "tenant="+sign(t, cookies, "alice", "acme"))
	r.Header.Set("X-Request-ID", "ticket-4711")
	w := httptest.NewRecorder()
	mw.Handler(invoiceApp(db)).ServeHTTP(w, r)
	if w.Code != 500 {
		t.Fatalf("status %d: the write was not refused", w.Code)
	}
	var found bool
	for _, e := range seen.all() {
		if e.Kind == event.RLSDenied {
			found = true
			if e.RequestID != "ticket-4711" || e.Tenant != "acme" {
				t.Errorf("driver event %+v: want request ID ticket-4711 and tenant acme", e)
			}
		}
	}
	if !found {
		t.Fatalf("no rls_denied event from the driver: %+v", seen.all())
	}
}
