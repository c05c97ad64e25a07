package tenanthttp_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pgx-tenant/pgx-tenant/event"
	"github.com/pgx-tenant/pgx-tenant/internal/pgtest"
	"github.com/pgx-tenant/pgx-tenant/tenant"
	"github.com/pgx-tenant/pgx-tenant/tenanthttp"
)

func TestMain(m *testing.M) { pgtest.Exit(m) }

// t0 is the fixed time the test cookies are issued at.
var t0 = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

// testKey returns a 32-byte key whose secret is derived from seed.
func testKey(id string, seed byte) tenanthttp.Key {
	return tenanthttp.Key{ID: id, Secret: bytes.Repeat([]byte{seed}, tenanthttp.MinKeyLen)}
}

// newCookies returns test Cookies signing with k1 (seed 1) at t0, not
// Secure (plain HTTP test servers), named "tenant".
func newCookies(tb testing.TB, opts ...tenanthttp.CookieOption) *tenanthttp.Cookies {
	tb.Helper()
	return newCookiesWith(tb, testKey("k1", 1), opts...)
}

// newCookiesWith is newCookies signing with k.
func newCookiesWith(tb testing.TB, k tenanthttp.Key, opts ...tenanthttp.CookieOption) *tenanthttp.Cookies {
	tb.Helper()
	base := []tenanthttp.CookieOption{tenanthttp.WithSecure(false), tenanthttp.WithClock(func() time.Time { return t0 })}
	c, err := tenanthttp.NewCookies(k, append(base, opts...)...)
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

func sign(tb testing.TB, c *tenanthttp.Cookies, principal, tenantID string) string {
	tb.Helper()
	v, err := c.Sign(principal, tenantID)
	if err != nil {
		tb.Fatal(err)
	}
	return v
}

// recorder collects events.
type recorder struct {
	mu     sync.Mutex
	events []event.Event
}

func (r *recorder) Handle(_ context.Context, e event.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
}

func (r *recorder) all() []event.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]event.Event(nil), r.events...)
}

// members is the membership table of the tests: alice is in acme and
// globex, bob in globex only.
var members = map[string][]string{"alice": {"acme", "globex"}, "bob": {"globex"}}

var errMembershipDown = errors.New("membership store down")

// isMember is the WithMembership function of the tests; principal
// "broken" makes it fail.
func isMember(_ context.Context, principal, tenantID string) (bool, error) {
	if principal == "broken" {
		return false, errMembershipDown
	}
	for _, t := range members[principal] {
		if t == tenantID {
			return true, nil
		}
	}
	return false, nil
}

// principalHeader stands in for the caller's authentication middleware.
const principalHeader = "X-Test-Principal"

func principalOf(r *http.Request) (string, bool) {
	p := r.Header.Get(principalHeader)
	return p, p != ""
}

// tenants known to the test subdomain resolver; "down" makes it fail.
func resolveLabel(_ context.Context, label string) (string, bool, error) {
	switch label {
	case "acme", "globex", "initech":
		return label, true, nil
	case "down":
		return "", false, errors.New("resolver down")
	case "nul":
		return "bad\x00id", true, nil // a resolver bug: an ID tenant.Validate refuses
	}
	return "", false, nil
}

// fixture is a middleware and what its next handler saw.
type fixture struct {
	mw      *tenanthttp.Middleware
	cookies *tenanthttp.Cookies
	events  *recorder
	handler http.Handler
	// the next handler's view of the last request it served
	called    bool
	tenant    string
	hasTenant bool
	requestID string
	header    http.Header
}

// newFixture builds a middleware with cookies, the principal header and
// membership, plus opts.
func newFixture(tb testing.TB, opts ...tenanthttp.Option) *fixture {
	tb.Helper()
	f := &fixture{cookies: newCookies(tb), events: &recorder{}}
	base := []tenanthttp.Option{
		tenanthttp.WithCookies(f.cookies),
		tenanthttp.WithPrincipal(principalOf),
		tenanthttp.WithMembership(isMember),
		tenanthttp.WithEventHandler(f.events),
	}
	mw, err := tenanthttp.New(append(base, opts...)...)
	if err != nil {
		tb.Fatal(err)
	}
	f.mw = mw
	f.handler = mw.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.called = true
		f.tenant, f.hasTenant = tenant.FromContext(r.Context())
		f.requestID = event.RequestID(r.Context())
		f.header = r.Header.Clone()
		w.Write([]byte("ok"))
	}))
	return f
}

// request is a GET for principal (none if "") with a raw Cookie header
// holding the tenant cookie value (none if cookie is nil).
func request(principal string, cookie *string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "http://example.com/invoices", nil)
	if principal != "" {
		r.Header.Set(principalHeader, principal)
	}
	if cookie != nil {
		r.Header.Set("Cookie", "tenant="+*cookie)
	}
	return r
}

func ptr(s string) *string { return &s }

// serve runs r through the fixture, resetting what next saw.
func (f *fixture) serve(r *http.Request) *httptest.ResponseRecorder {
	f.called, f.tenant, f.hasTenant, f.requestID, f.header = false, "", false, "", nil
	w := httptest.NewRecorder()
	f.handler.ServeHTTP(w, r)
	return w
}

// wantTenant checks that the request went through with tenant id.
func (f *fixture) wantTenant(tb testing.TB, w *httptest.ResponseRecorder, id string) {
	tb.Helper()
	if w.Code != http.StatusOK || !f.called || !f.hasTenant || f.tenant != id {
		tb.Fatalf("status %d, next called %v with tenant %q (%v); want 200 with %q; body %s", w.Code, f.called, f.tenant, f.hasTenant, id, w.Body)
	}
}

// wantRefused checks a refusal: status, problem body, next not called, and
// an event with rule as the last event.
func (f *fixture) wantRefused(tb testing.TB, w *httptest.ResponseRecorder, status int, rule string) {
	tb.Helper()
	if f.called {
		tb.Fatalf("next handler ran (tenant %q) for a refused request", f.tenant)
	}
	wantProblem(tb, w, status)
	evs := f.events.all()
	if len(evs) == 0 {
		tb.Fatalf("no event for a refusal with rule %s", rule)
	}
	e := evs[len(evs)-1]
	wantKind := event.TenantRejected
	if status >= 500 {
		wantKind = event.TenantUnavailable
	}
	if e.Kind != wantKind || e.Rule != rule {
		tb.Fatalf("event %s/%s, want %s/%s", e.Kind, e.Rule, wantKind, rule)
	}
	if e.RequestID == "" || e.RequestID != w.Header().Get("X-Request-ID") {
		tb.Fatalf("event request ID %q, response header %q", e.RequestID, w.Header().Get("X-Request-ID"))
	}
}

// wantProblem checks an RFC 9457 problem response with status.
func wantProblem(tb testing.TB, w *httptest.ResponseRecorder, status int) map[string]any {
	tb.Helper()
	if w.Code != status {
		tb.Fatalf("status %d, want %d; body %s", w.Code, status, w.Body)
	}
	if ct := w.Header().Get("Content-Type"); ct != "application/problem+json" {
		tb.Fatalf("Content-Type %q, want application/problem+json", ct)
	}
	var body map[string]any
	dec := json.NewDecoder(bytes.NewReader(w.Body.Bytes()))
	dec.UseNumber()
	if err := dec.Decode(&body); err != nil {
		tb.Fatalf("problem body %q: %v", w.Body, err)
	}
	if len(body) != 4 {
		tb.Fatalf("problem body has fields %v, want type, title, status, detail", body)
	}
	for _, k := range []string{"type", "title", "detail"} {
		if s, ok := body[k].(string); !ok || s == "" {
			tb.Fatalf("problem %s = %v, want a non-empty string", k, body[k])
		}
	}
	if n, ok := body["status"].(json.Number); !ok || n.String() != itoa(status) {
		tb.Fatalf("problem status %v, want %d", body["status"], status)
	}
	if !strings.HasPrefix(body["type"].(string), "https://pkg.go.dev/github.com/pgx-tenant/pgx-tenant/tenanthttp#Problem") {
		tb.Fatalf("problem type %v", body["type"])
	}
	return body
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

func tenantOf(r *http.Request) (string, bool) { return tenant.FromContext(r.Context()) }
