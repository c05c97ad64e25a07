package tenanthttp_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/pgx-tenant/pgx-tenant/event"
	"github.com/pgx-tenant/pgx-tenant/tenanthttp"
)

func switchHandler(tb testing.TB, f *fixture) http.Handler {
	tb.Helper()
	h, err := f.mw.SwitchHandler()
	if err != nil {
		tb.Fatal(err)
	}
	return h
}

func TestSwitchHandlerNeedsConfig(t *testing.T) {
	m, err := tenanthttp.New(tenanthttp.WithSubdomain("example.com", resolveLabel))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.SwitchHandler(); !errors.Is(err, tenanthttp.ErrConfig) {
		t.Fatalf("SwitchHandler without cookies: %v, want ErrConfig", err)
	}
	m, err = tenanthttp.New(tenanthttp.WithCookies(newCookies(t)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.SwitchHandler(); !errors.Is(err, tenanthttp.ErrConfig) {
		t.Fatalf("SwitchHandler without principal: %v, want ErrConfig", err)
	}
}

func TestSwitch(t *testing.T) {
	const app = "https://app.example.com"
	f := newFixture(t, tenanthttp.WithAllowedOrigins(app+"/"))
	sw := switchHandler(t, f)
	json := "application/json"
	form := "application/x-www-form-urlencoded"
	tests := []struct {
		name        string
		method      string
		principal   string
		origin      string // "" for none
		fetchSite   string // Sec-Fetch-Site, "" for none
		contentType string
		body        string
		target      string // query string appended to the URL
		wantStatus  int
		wantRule    string // event rule of a refusal with an event
	}{
		{name: "json, allowed origin", principal: "alice", origin: app, contentType: json, body: `{"tenant":"globex"}`, wantStatus: 200},
		{name: "json with charset", principal: "alice", origin: "HTTPS://APP.example.com", contentType: json + "; charset=utf-8", body: `{"tenant":"globex"}`, wantStatus: 200},
		{name: "form, same-origin fetch", principal: "alice", fetchSite: "same-origin", origin: "https://elsewhere.example.com", contentType: form, body: "tenant=globex", wantStatus: 200},
		{name: "GET", method: http.MethodGet, principal: "alice", origin: app, wantStatus: 405},
		{name: "PUT", method: http.MethodPut, principal: "alice", origin: app, contentType: json, body: `{"tenant":"globex"}`, wantStatus: 405},
		{name: "cross-origin", principal: "alice", origin: "https://evil.example", contentType: json, body: `{"tenant":"globex"}`, wantStatus: 403, wantRule: tenanthttp.RuleCrossOrigin},
		{name: "cross-site fetch", principal: "alice", origin: "https://evil.example", fetchSite: "cross-site", contentType: form, body: "tenant=globex", wantStatus: 403, wantRule: tenanthttp.RuleCrossOrigin},
		{name: "same-site sibling", principal: "alice", origin: "https://acme.example.com", fetchSite: "same-site", contentType: form, body: "tenant=globex", wantStatus: 403, wantRule: tenanthttp.RuleCrossOrigin},
		{name: "origin null", principal: "alice", origin: "null", contentType: form, body: "tenant=globex", wantStatus: 403, wantRule: tenanthttp.RuleCrossOrigin},
		{name: "origin of another scheme", principal: "alice", origin: "http://app.example.com", contentType: form, body: "tenant=globex", wantStatus: 403, wantRule: tenanthttp.RuleCrossOrigin},
		{name: "origin of another port", principal: "alice", origin: app + ":8443", contentType: form, body: "tenant=globex", wantStatus: 403, wantRule: tenanthttp.RuleCrossOrigin},
		{name: "no origin, no fetch metadata", principal: "alice", contentType: json, body: `{"tenant":"globex"}`, wantStatus: 403, wantRule: tenanthttp.RuleCrossOrigin},
		{name: "not a member", principal: "bob", origin: app, contentType: json, body: `{"tenant":"acme"}`, wantStatus: 403, wantRule: tenanthttp.RuleNotMember},
		{name: "unknown tenant", principal: "alice", origin: app, contentType: json, body: `{"tenant":"initech"}`, wantStatus: 403, wantRule: tenanthttp.RuleNotMember},
		{name: "membership check fails", principal: "broken", origin: app, contentType: json, body: `{"tenant":"acme"}`, wantStatus: 503, wantRule: tenanthttp.RuleLookupFailed},
		{name: "nobody signed in", origin: app, contentType: json, body: `{"tenant":"acme"}`, wantStatus: 403, wantRule: tenanthttp.RuleNoPrincipal},
		{name: "empty tenant", principal: "alice", origin: app, contentType: json, body: `{"tenant":""}`, wantStatus: 400},
		{name: "no tenant field", principal: "alice", origin: app, contentType: json, body: `{}`, wantStatus: 400},
		{name: "unknown field", principal: "alice", origin: app, contentType: json, body: `{"tenant":"globex","principal":"bob"}`, wantStatus: 400},
		{name: "two JSON values", principal: "alice", origin: app, contentType: json, body: `{"tenant":"globex"}{"tenant":"acme"}`, wantStatus: 400},
		{name: "bad JSON", principal: "alice", origin: app, contentType: json, body: `{"tenant":`, wantStatus: 400},
		{name: "form with two tenants", principal: "alice", origin: app, contentType: form, body: "tenant=globex&tenant=acme", wantStatus: 400},
		{name: "tenant in the query only", principal: "alice", origin: app, contentType: form, body: "", target: "?tenant=globex", wantStatus: 400},
		{name: "text/plain", principal: "alice", origin: app, contentType: "text/plain", body: "globex", wantStatus: 415},
		{name: "no content type", principal: "alice", origin: app, body: `{"tenant":"globex"}`, wantStatus: 415},
		{name: "too large", principal: "alice", origin: app, contentType: json, body: `{"tenant":"` + strings.Repeat("a", 5000) + `"}`, wantStatus: 413},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			method := tt.method
			if method == "" {
				method = http.MethodPost
			}
			r := httptest.NewRequest(method, "https://app.example.com/switch"+tt.target, strings.NewReader(tt.body))
			if tt.principal != "" {
				r.Header.Set(principalHeader, tt.principal)
			}
			if tt.origin != "" {
				r.Header.Set("Origin", tt.origin)
			}
			if tt.fetchSite != "" {
				r.Header.Set("Sec-Fetch-Site", tt.fetchSite)
			}
			if tt.contentType != "" {
				r.Header.Set("Content-Type", tt.contentType)
			}
			before := len(f.events.all())
			w := httptest.NewRecorder()
			sw.ServeHTTP(w, r)
			cookies := w.Result().Cookies()
			if tt.wantStatus != 200 {
				wantProblem(t, w, tt.wantStatus)
				if len(cookies) != 0 {
					t.Fatalf("refused switch set a cookie: %v", cookies)
				}
				if tt.wantStatus == 405 && w.Header().Get("Allow") != http.MethodPost {
					t.Fatalf("405 with Allow %q", w.Header().Get("Allow"))
				}
				evs := f.events.all()
				if tt.wantRule != "" && (len(evs) != before+1 || evs[before].Rule != tt.wantRule) {
					t.Fatalf("events %+v, want one with rule %s", evs[before:], tt.wantRule)
				}
				return
			}
			if w.Code != 200 || len(cookies) != 1 {
				t.Fatalf("status %d, cookies %v; body %s", w.Code, cookies, w.Body)
			}
			if got := strings.TrimSpace(w.Body.String()); got != `{"tenant":"globex"}` {
				t.Fatalf("body %s", got)
			}
			if evs := f.events.all(); len(evs) != before+1 || evs[before].Kind != event.TenantSwitched || evs[before].Tenant != "globex" {
				t.Fatalf("events %+v, want one tenant_switched to globex", evs[before:])
			}
			// The new cookie carries alice into globex through the middleware.
			next := request("alice", &cookies[0].Value)
			f.wantTenant(t, f.serve(next), "globex")
			// And not bob.
			f.wantRefused(t, f.serve(request("bob", &cookies[0].Value)), 403, tenanthttp.RulePrincipalMismatch)
		})
	}
}

// TestSwitchWithoutOrigins: with no allowed origins, only browsers saying
// same-origin can switch.
func TestSwitchWithoutOrigins(t *testing.T) {
	f := newFixture(t)
	sw := switchHandler(t, f)
	for _, tc := range []struct {
		origin, site string
		want         int
	}{
		{"https://app.example.com", "same-origin", 200},
		{"https://app.example.com", "", 403},
		{"", "same-origin", 200},
		{"", "", 403},
	} {
		r := httptest.NewRequest(http.MethodPost, "/switch", strings.NewReader("tenant=acme"))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.Header.Set(principalHeader, "alice")
		if tc.origin != "" {
			r.Header.Set("Origin", tc.origin)
		}
		if tc.site != "" {
			r.Header.Set("Sec-Fetch-Site", tc.site)
		}
		w := httptest.NewRecorder()
		sw.ServeHTTP(w, r)
		if w.Code != tc.want {
			t.Errorf("Origin %q, Sec-Fetch-Site %q: %d, want %d", tc.origin, tc.site, w.Code, tc.want)
		}
	}
}

// TestSwitchStripsHeadersAndOrigins: the switch handler removes the tenant
// headers as the middleware does (for handlers wrapped around it), and a
// request with two Origin headers is refused even if one is allowed.
func TestSwitchStripsHeadersAndOrigins(t *testing.T) {
	f := newFixture(t, tenanthttp.WithAllowedOrigins("https://app.example.com"))
	sw := switchHandler(t, f)
	for _, origins := range [][]string{{"https://app.example.com"}, {"https://app.example.com", "https://evil.example"}} {
		r := httptest.NewRequest(http.MethodPost, "/switch", strings.NewReader("tenant=acme"))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.Header.Set(principalHeader, "alice")
		r.Header["Origin"] = origins
		r.Header["X_Tenant_ID"] = []string{"globex"}
		w := httptest.NewRecorder()
		sw.ServeHTTP(w, r)
		if _, ok := r.Header["X_Tenant_ID"]; ok {
			t.Errorf("Origin %v: the tenant header was left in the request", origins)
		}
		if len(origins) == 1 && w.Code != http.StatusOK {
			t.Errorf("Origin %v: status %d, want 200; body %s", origins, w.Code, w.Body)
		}
		if len(origins) == 2 {
			wantProblem(t, w, http.StatusForbidden)
			if evs := f.events.all(); evs[len(evs)-1].Rule != tenanthttp.RuleCrossOrigin {
				t.Errorf("two Origins: event %+v, want rule %s", evs[len(evs)-1], tenanthttp.RuleCrossOrigin)
			}
		}
	}
}

// TestSwitchEventsCarryNoClientTenant: the tenant a switch request names
// is the client's word until membership has accepted it, so a refused
// switch reports no tenant (event.TenantRejected's contract: only verified
// tenants), not whatever the body said.
func TestSwitchEventsCarryNoClientTenant(t *testing.T) {
	f := newFixture(t)
	sw := switchHandler(t, f)
	for _, p := range []string{"bob", "broken"} {
		r := httptest.NewRequest(http.MethodPost, "/switch", strings.NewReader(`{"tenant":"initech\n<script>level=ERROR"}`))
		r.Header.Set("Content-Type", "application/json")
		r.Header.Set("Sec-Fetch-Site", "same-origin")
		r.Header.Set(principalHeader, p)
		w := httptest.NewRecorder()
		sw.ServeHTTP(w, r)
		if w.Code != 403 && w.Code != 503 {
			t.Fatalf("%s: status %d", p, w.Code)
		}
		evs := f.events.all()
		e := evs[len(evs)-1]
		if e.Tenant != "" || strings.Contains(e.Message, "script") {
			t.Fatalf("%s: refused switch reported the client's tenant: %+v", p, e)
		}
		if strings.Contains(w.Body.String(), "initech") {
			t.Fatalf("%s: problem echoes the tenant: %s", p, w.Body)
		}
	}
}

// TestSwitchOriginDefaultPort: an allowed origin written with its scheme's
// default port matches what browsers send (they omit it).
func TestSwitchOriginDefaultPort(t *testing.T) {
	f := newFixture(t, tenanthttp.WithAllowedOrigins("https://app.example.com:443", "http://localhost:80", "http://127.0.0.1:8080"))
	sw := switchHandler(t, f)
	for _, tc := range []struct {
		origin string
		want   int
	}{
		{"https://app.example.com", 200},
		{"https://app.example.com:443", 200},
		{"http://localhost", 200},
		{"http://127.0.0.1:8080", 200},
		{"http://127.0.0.1", 403},
		{"http://app.example.com", 403},
		{"https://localhost", 403},
	} {
		r := httptest.NewRequest(http.MethodPost, "/switch", strings.NewReader("tenant=acme"))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.Header.Set(principalHeader, "alice")
		r.Header.Set("Origin", tc.origin)
		w := httptest.NewRecorder()
		sw.ServeHTTP(w, r)
		if w.Code != tc.want {
			t.Errorf("Origin %q: %d, want %d", tc.origin, w.Code, tc.want)
		}
	}
}

// TestSwitchOnTenantHost: with subdomains, a switch on a tenant's own host
// to another tenant is refused (the cookie would be refused there), to the
// host's tenant or on the base domain it works, and a foreign host is
// refused.
func TestSwitchOnTenantHost(t *testing.T) {
	f := newFixture(t, tenanthttp.WithSubdomain("example.com", resolveLabel))
	sw := switchHandler(t, f)
	for _, tc := range []struct {
		host, target string
		wantStatus   int
		wantRule     string
	}{
		{"acme.example.com", "globex", 403, tenanthttp.RuleSourcesDisagree},
		{"acme.example.com", "acme", 200, ""},
		{"example.com", "globex", 200, ""},
		{"www.example.com", "globex", 200, ""}, // a label naming no tenant
		{"evil.test", "globex", 403, tenanthttp.RuleBadHost},
	} {
		r := httptest.NewRequest(http.MethodPost, "https://"+tc.host+"/switch", strings.NewReader(`{"tenant":"`+tc.target+`"}`))
		r.Header.Set(principalHeader, "alice")
		r.Header.Set("Sec-Fetch-Site", "same-origin")
		r.Header.Set("Content-Type", "application/json")
		before := len(f.events.all())
		w := httptest.NewRecorder()
		sw.ServeHTTP(w, r)
		if w.Code != tc.wantStatus {
			t.Errorf("%s → %s: status %d, want %d; body %s", tc.host, tc.target, w.Code, tc.wantStatus, w.Body)
			continue
		}
		if tc.wantRule != "" {
			evs := f.events.all()
			if len(evs) != before+1 || evs[before].Rule != tc.wantRule {
				t.Errorf("%s → %s: events %+v, want rule %s", tc.host, tc.target, evs[before:], tc.wantRule)
			}
			for _, c := range w.Result().Cookies() {
				if c.MaxAge >= 0 && c.Value != "" {
					t.Errorf("%s → %s: refused switch issued a cookie", tc.host, tc.target)
				}
			}
		}
	}
}
