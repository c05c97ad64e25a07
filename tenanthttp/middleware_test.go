package tenanthttp_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pgx-tenant/pgx-tenant/event"
	"github.com/pgx-tenant/pgx-tenant/tenanthttp"
)

func TestNewRefuses(t *testing.T) {
	c := newCookies(t)
	member := tenanthttp.WithMembership(isMember)
	principal := tenanthttp.WithPrincipal(principalOf)
	tests := []struct {
		name string
		opts []tenanthttp.Option
	}{
		{"no source", []tenanthttp.Option{principal, member}},
		{"principal without membership", []tenanthttp.Option{tenanthttp.WithCookies(c), principal}},
		{"membership without principal", []tenanthttp.Option{tenanthttp.WithCookies(c), member}},
		{"principal tenant without principal", []tenanthttp.Option{tenanthttp.WithPrincipalTenant(func(context.Context, string) (string, bool, error) { return "", false, nil })}},
		{"empty base domain", []tenanthttp.Option{tenanthttp.WithSubdomain("", resolveLabel)}},
		{"base domain with port", []tenanthttp.Option{tenanthttp.WithSubdomain("example.com:443", resolveLabel)}},
		{"base domain with scheme", []tenanthttp.Option{tenanthttp.WithSubdomain("https://example.com", resolveLabel)}},
		{"origin with path", []tenanthttp.Option{tenanthttp.WithCookies(c), tenanthttp.WithAllowedOrigins("https://example.com/app")}},
		{"origin without scheme", []tenanthttp.Option{tenanthttp.WithCookies(c), tenanthttp.WithAllowedOrigins("example.com")}},
		{"empty request ID header", []tenanthttp.Option{tenanthttp.WithCookies(c), tenanthttp.WithRequestIDHeader("")}},
		// A nil function would silently turn its source off: the Host check
		// and the cookie/subdomain agreement the caller asked for would
		// never run.
		{"subdomain without resolver", []tenanthttp.Option{tenanthttp.WithCookies(c), tenanthttp.WithSubdomain("example.com", nil)}},
		{"nil principal tenant", []tenanthttp.Option{tenanthttp.WithCookies(c), principal, member, tenanthttp.WithPrincipalTenant(nil)}},
		{"nil cookies", []tenanthttp.Option{tenanthttp.WithCookies(nil), tenanthttp.WithSubdomain("example.com", resolveLabel)}},
		{"nil principal", []tenanthttp.Option{tenanthttp.WithCookies(c), tenanthttp.WithPrincipal(nil), member}},
		{"nil membership", []tenanthttp.Option{tenanthttp.WithCookies(c), principal, tenanthttp.WithMembership(nil)}},
		{"origin with a non-ASCII host", []tenanthttp.Option{tenanthttp.WithCookies(c), tenanthttp.WithAllowedOrigins("https://bücher.example")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := tenanthttp.New(tt.opts...)
			if !errors.Is(err, tenanthttp.ErrConfig) {
				t.Fatalf("New = %v, %v; want ErrConfig", m, err)
			}
			// A nil function is reported as such, not as a missing option.
			if strings.HasPrefix(tt.name, "nil ") && !strings.Contains(err.Error(), "given nil") {
				t.Fatalf("New: %v; want it to name the option given nil", err)
			}
		})
	}
}

// TestCookieSource runs the cookie checks through the middleware.
func TestCookieSource(t *testing.T) {
	f := newFixture(t)
	other := newCookiesWith(t, testKey("k1", 9))
	unknown := newCookiesWith(t, testKey("k9", 1))
	expired := newCookies(t, tenanthttp.WithTTL(time.Minute), tenanthttp.WithClock(func() time.Time { return t0.Add(-time.Hour) }))
	aliceAcme := sign(t, f.cookies, "alice", "acme")
	tests := []struct {
		name       string
		principal  string
		cookie     *string
		rawCookie  string // a whole Cookie header instead
		wantStatus int
		wantRule   string // "" for a request that passes
		wantTenant string
	}{
		{name: "valid", principal: "alice", cookie: &aliceAcme, wantStatus: 200, wantTenant: "acme"},
		{name: "valid among other cookies", principal: "alice", rawCookie: "a=1; tenant=" + aliceAcme + "; b=2", wantStatus: 200, wantTenant: "acme"},
		{name: "invalid signature", principal: "alice", cookie: ptr(sign(t, other, "alice", "acme")), wantStatus: 403, wantRule: tenanthttp.RuleBadSignature},
		{name: "expired", principal: "alice", cookie: ptr(sign(t, expired, "alice", "acme")), wantStatus: 403, wantRule: tenanthttp.RuleExpired},
		{name: "unknown key ID", principal: "alice", cookie: ptr(sign(t, unknown, "alice", "acme")), wantStatus: 403, wantRule: tenanthttp.RuleUnknownKey},
		{name: "empty", principal: "alice", cookie: ptr(""), wantStatus: 403, wantRule: tenanthttp.RuleMalformed},
		{name: "garbage", principal: "alice", cookie: ptr("garbage"), wantStatus: 403, wantRule: tenanthttp.RuleMalformed},
		{name: "invalid base64", principal: "alice", cookie: ptr("v1.k1.%%%.***"), wantStatus: 403, wantRule: tenanthttp.RuleMalformed},
		{name: "quoted", principal: "alice", cookie: ptr(`"` + aliceAcme + `"`), wantStatus: 403, wantRule: tenanthttp.RuleMalformed},
		{name: "two tenant cookies", principal: "alice", rawCookie: "tenant=" + aliceAcme + "; tenant=" + sign(t, f.cookies, "alice", "globex"), wantStatus: 403, wantRule: tenanthttp.RuleMalformed},
		{name: "the same cookie twice", principal: "alice", rawCookie: "tenant=" + aliceAcme + "; tenant=" + aliceAcme, wantStatus: 403, wantRule: tenanthttp.RuleMalformed},
		{name: "another principal's cookie", principal: "bob", cookie: ptr(sign(t, f.cookies, "alice", "globex")), wantStatus: 403, wantRule: tenanthttp.RulePrincipalMismatch},
		{name: "cookie bound to nobody", principal: "alice", cookie: ptr(sign(t, f.cookies, "", "acme")), wantStatus: 403, wantRule: tenanthttp.RulePrincipalMismatch},
		{name: "not a member", principal: "bob", cookie: ptr(sign(t, f.cookies, "bob", "acme")), wantStatus: 403, wantRule: tenanthttp.RuleNotMember},
		{name: "nobody signed in", cookie: ptr(sign(t, f.cookies, "", "acme")), wantStatus: 403, wantRule: tenanthttp.RuleNoPrincipal},
		{name: "membership check fails", principal: "broken", cookie: ptr(sign(t, f.cookies, "broken", "acme")), wantStatus: 503, wantRule: tenanthttp.RuleLookupFailed},
		{name: "no cookie", principal: "alice", wantStatus: 403, wantRule: tenanthttp.RuleNoTenant},
		{name: "cookie of another name", principal: "alice", rawCookie: "tenantx=" + aliceAcme, wantStatus: 403, wantRule: tenanthttp.RuleNoTenant},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := request(tt.principal, tt.cookie)
			if tt.rawCookie != "" {
				r.Header.Set("Cookie", tt.rawCookie)
			}
			w := f.serve(r)
			if tt.wantRule == "" {
				f.wantTenant(t, w, tt.wantTenant)
				return
			}
			f.wantRefused(t, w, tt.wantStatus, tt.wantRule)
			cleared := false
			for _, c := range w.Result().Cookies() {
				cleared = cleared || (c.Name == "tenant" && c.MaxAge < 0)
			}
			credential := strings.Contains(wantProblem(t, w, tt.wantStatus)["type"].(string), "Credential")
			if cleared != credential {
				t.Fatalf("cookie cleared %v, credential problem %v", cleared, credential)
			}
		})
	}
}

// TestTamperedCookieOverHTTP sends every one-bit flip and every truncation
// of a valid cookie through the middleware: each is refused.
func TestTamperedCookieOverHTTP(t *testing.T) {
	f := newFixture(t)
	valid := sign(t, f.cookies, "alice", "acme")
	if w := f.serve(request("alice", &valid)); w.Code != 200 {
		t.Fatalf("valid cookie: %d", w.Code)
	}
	var values []string
	for i := 0; i < len(valid); i++ {
		for _, mask := range []byte{0x01, 0x02, 0x20, 0x80} {
			b := []byte(valid)
			b[i] ^= mask
			if b[i] == ';' || b[i] == ',' || b[i] == ' ' || b[i] == '\t' || b[i] < 0x20 {
				continue // would end or split the cookie: another test's business
			}
			values = append(values, string(b))
		}
	}
	for n := 0; n < len(valid); n++ {
		values = append(values, valid[:n])
	}
	for _, v := range values {
		w := f.serve(request("alice", &v))
		if w.Code != http.StatusForbidden || f.called {
			t.Fatalf("cookie %q: status %d, next called %v", v, w.Code, f.called)
		}
	}
}

func TestSpoofedHeaders(t *testing.T) {
	tests := []struct {
		name     string
		opts     []tenanthttp.Option
		send     []string // header names carrying "globex", as sent
		wantKept []string // the ones the next handler still sees
	}{
		{name: "default list", send: []string{"X-Tenant-ID", "X-Tenant", "Tenant-ID", "X-Org-ID"}},
		{name: "canonical", send: []string{"X-Tenant-Id", "Tenant-Id", "X-Org-Id"}},
		{name: "underscores and case", send: []string{"x_tenant_id", "X_TENANT", "tenant_id", "x-org-id"}},
		{name: "custom list", opts: []tenanthttp.Option{tenanthttp.WithTenantHeaders("X-Customer")}, send: []string{"X-Customer", "X-Tenant-ID"}, wantKept: []string{"X-Tenant-ID"}},
		{name: "trusted", opts: []tenanthttp.Option{tenanthttp.WithTrustedHeaders("x-org-id")}, send: []string{"X-Org-ID", "X-Tenant-ID"}, wantKept: []string{"X-Org-ID"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, tt.opts...)
			r := request("alice", ptr(sign(t, f.cookies, "alice", "acme")))
			for _, h := range tt.send {
				r.Header[h] = []string{"globex"} // as sent, not canonicalized
			}
			w := f.serve(r)
			f.wantTenant(t, w, "acme")
			for _, h := range tt.send {
				_, raw := f.header[h]
				kept := raw || f.header.Get(h) != ""
				if want := slices.Contains(tt.wantKept, h); kept != want {
					t.Errorf("header %s reached the next handler: %v, want %v", h, kept, want)
				}
			}
			if !strings.Contains(w.Header().Get("Vary"), "Cookie") {
				t.Errorf("Vary %q, want Cookie", w.Header().Get("Vary"))
			}
		})
	}

	// A spoofed header without a cookie names no tenant.
	f := newFixture(t)
	r := request("alice", nil)
	r.Header.Set("X-Tenant-ID", "globex")
	f.wantRefused(t, f.serve(r), 403, tenanthttp.RuleNoTenant)
	// Headers are stripped even from requests that are refused later, so no
	// outer handler that runs after a refusal sees them either.
	if r.Header.Get("X-Tenant-ID") != "" {
		t.Fatal("header left in a refused request")
	}
}

func TestSubdomainSource(t *testing.T) {
	f := newFixture(t, tenanthttp.WithSubdomain("Example.COM.", resolveLabel))
	tests := []struct {
		host       string
		principal  string
		cookie     string // tenant of an alice cookie, "" for none
		wantStatus int
		wantRule   string
		wantTenant string
	}{
		{host: "acme.example.com", principal: "alice", wantStatus: 200, wantTenant: "acme"},
		{host: "ACME.Example.Com:8443", principal: "alice", wantStatus: 200, wantTenant: "acme"},
		{host: "acme.example.com.", principal: "alice", wantStatus: 200, wantTenant: "acme"},
		{host: "acme.example.com", principal: "alice", cookie: "acme", wantStatus: 200, wantTenant: "acme"},
		{host: "example.com", principal: "alice", cookie: "globex", wantStatus: 200, wantTenant: "globex"},
		{host: "www.example.com", principal: "alice", cookie: "globex", wantStatus: 200, wantTenant: "globex"},
		{host: "acme.example.com", principal: "alice", cookie: "globex", wantStatus: 403, wantRule: tenanthttp.RuleSourcesDisagree},
		{host: "globex.example.com", principal: "alice", cookie: "acme", wantStatus: 403, wantRule: tenanthttp.RuleSourcesDisagree},
		{host: "acme.example.com", principal: "bob", wantStatus: 403, wantRule: tenanthttp.RuleNotMember},
		{host: "acme.example.com", wantStatus: 403, wantRule: tenanthttp.RuleNoPrincipal},
		{host: "initech.example.com", principal: "alice", wantStatus: 403, wantRule: tenanthttp.RuleNotMember},
		{host: "example.com", principal: "alice", wantStatus: 403, wantRule: tenanthttp.RuleNoTenant},
		{host: "www.example.com", principal: "alice", wantStatus: 403, wantRule: tenanthttp.RuleNoTenant},
		{host: "down.example.com", principal: "alice", wantStatus: 503, wantRule: tenanthttp.RuleLookupFailed},
		{host: "nul.example.com", principal: "alice", wantStatus: 403, wantRule: tenanthttp.RuleInvalidTenant},
		{host: "evil.com", principal: "alice", wantStatus: 403, wantRule: tenanthttp.RuleBadHost},
		{host: "acme.example.com.evil.com", principal: "alice", wantStatus: 403, wantRule: tenanthttp.RuleBadHost},
		{host: "acmeexample.com", principal: "alice", wantStatus: 403, wantRule: tenanthttp.RuleBadHost},
		{host: "globex.acme.example.com", principal: "alice", wantStatus: 403, wantRule: tenanthttp.RuleBadHost},
		{host: ".example.com", principal: "alice", wantStatus: 403, wantRule: tenanthttp.RuleBadHost},
		{host: "-acme.example.com", principal: "alice", wantStatus: 403, wantRule: tenanthttp.RuleBadHost},
		{host: "ac_me.example.com", principal: "alice", wantStatus: 403, wantRule: tenanthttp.RuleBadHost},
		{host: "acme.example.com:", principal: "alice", wantStatus: 403, wantRule: tenanthttp.RuleBadHost},
		{host: "acme.example.com:80x", principal: "alice", wantStatus: 403, wantRule: tenanthttp.RuleBadHost},
		{host: "acme.example.com:80:80", principal: "alice", wantStatus: 403, wantRule: tenanthttp.RuleBadHost},
		{host: "127.0.0.1:8080", principal: "alice", wantStatus: 403, wantRule: tenanthttp.RuleBadHost},
		{host: "[::1]:8080", principal: "alice", wantStatus: 403, wantRule: tenanthttp.RuleBadHost},
		{host: "[::1]", principal: "alice", wantStatus: 403, wantRule: tenanthttp.RuleBadHost},
		{host: "::1", principal: "alice", wantStatus: 403, wantRule: tenanthttp.RuleBadHost},
		{host: "[acme.example.com]", principal: "alice", wantStatus: 403, wantRule: tenanthttp.RuleBadHost},
		{host: "[acme.example.com]:443", principal: "alice", wantStatus: 403, wantRule: tenanthttp.RuleBadHost}, // net.SplitHostPort would unbracket it
		{host: "", principal: "alice", wantStatus: 403, wantRule: tenanthttp.RuleBadHost},
		// Unicode case folding must not turn a non-ASCII host into an
		// ASCII one: strings.ToLower maps the Kelvin sign U+212A to 'k'.
		{host: "\u212A.example.com", principal: "alice", wantStatus: 403, wantRule: tenanthttp.RuleBadHost},
		{host: "acme.exampl\u0130.com", principal: "alice", wantStatus: 403, wantRule: tenanthttp.RuleBadHost},
	}
	for _, tt := range tests {
		t.Run(tt.host+"/"+tt.principal+"/"+tt.cookie, func(t *testing.T) {
			var c *string
			if tt.cookie != "" {
				c = ptr(sign(t, f.cookies, tt.principal, tt.cookie))
			}
			r := request(tt.principal, c)
			r.Host = tt.host
			w := f.serve(r)
			if tt.wantRule == "" {
				f.wantTenant(t, w, tt.wantTenant)
				return
			}
			f.wantRefused(t, w, tt.wantStatus, tt.wantRule)
			if strings.Contains(w.Body.String(), "globex") || strings.Contains(w.Body.String(), "acme") {
				t.Fatalf("problem names a tenant: %s", w.Body)
			}
		})
	}
}

// TestSourceOrder checks that a failing first source is never skipped in
// favour of a later one.
func TestSourceOrder(t *testing.T) {
	f := newFixture(t, tenanthttp.WithSubdomain("example.com", resolveLabel),
		tenanthttp.WithPrincipalTenant(func(_ context.Context, p string) (string, bool, error) {
			switch p {
			case "bob":
				return "globex", true, nil
			case "broken":
				return "", false, errors.New("down")
			case "carol":
				return "", true, nil // a bug: ok with an empty ID
			}
			return "", false, nil
		}))
	bad := sign(t, f.cookies, "bob", "globex")
	bad = bad[:len(bad)-2] + "AA"
	r := request("bob", &bad)
	r.Host = "globex.example.com"
	f.wantRefused(t, f.serve(r), 403, tenanthttp.RuleBadSignature) // not globex from the other two

	r = request("bob", nil)
	f.wantTenant(t, f.serve(r), "globex") // principal's own tenant
	r = request("bob", nil)
	r.Host = "acme.example.com"
	f.wantRefused(t, f.serve(r), 403, tenanthttp.RuleSourcesDisagree)
	r = request("bob", ptr(sign(t, f.cookies, "bob", "acme")))
	f.wantRefused(t, f.serve(r), 403, tenanthttp.RuleSourcesDisagree)
	r = request("broken", nil)
	r.Host = "acme.example.com"
	f.wantRefused(t, f.serve(r), 503, tenanthttp.RuleLookupFailed)
	r = request("broken", nil)
	f.wantRefused(t, f.serve(r), 503, tenanthttp.RuleLookupFailed) // the principal's tenant function failed
	f.wantRefused(t, f.serve(request("carol", nil)), 403, tenanthttp.RuleInvalidTenant)
}

func TestTenantOptional(t *testing.T) {
	f := newFixture(t, tenanthttp.WithTenantRequired(false))
	w := f.serve(request("alice", nil))
	if w.Code != 200 || !f.called || f.hasTenant {
		t.Fatalf("no cookie: status %d, called %v, tenant %q %v; want the handler without a tenant", w.Code, f.called, f.tenant, f.hasTenant)
	}
	r := request("alice", nil)
	r.Header.Set("X-Tenant-ID", "acme")
	if w := f.serve(r); w.Code != 200 || f.hasTenant {
		t.Fatalf("spoofed header named a tenant: %q", f.tenant)
	}
	// A cookie that is present but bad is refused, not treated as absent.
	f.wantRefused(t, f.serve(request("alice", ptr("garbage"))), 403, tenanthttp.RuleMalformed)
	f.wantRefused(t, f.serve(request("bob", ptr(sign(t, f.cookies, "bob", "acme")))), 403, tenanthttp.RuleNotMember)
}

// TestNoMembershipWithoutPrincipal: cookies alone (no principal) pass the
// cookie's tenant through; the cookie is the whole authorization.
func TestCookiesOnly(t *testing.T) {
	c := newCookies(t)
	m, err := tenanthttp.New(tenanthttp.WithCookies(c), tenanthttp.WithEventHandler(&recorder{}))
	if err != nil {
		t.Fatal(err)
	}
	var got string
	h := m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got, _ = tenantOf(r) }))
	w := httptest.NewRecorder()
	h.ServeHTTP(w, request("", ptr(sign(t, c, "anyone", "acme"))))
	if w.Code != 200 || got != "acme" {
		t.Fatalf("status %d tenant %q", w.Code, got)
	}
}

func TestRequestID(t *testing.T) {
	f := newFixture(t)
	valid := sign(t, f.cookies, "alice", "acme")
	tests := []struct {
		name, incoming string
		keep           bool
	}{
		{"printable", "req-42_abc.DEF:1/2", true},
		{"64 bytes", strings.Repeat("a", 64), true},
		{"65 bytes", strings.Repeat("a", 65), false},
		{"space", "a b", false},
		{"newline", "a\nb", false},
		{"DEL", "a\x7fb", false},
		{"non-ASCII", "réq", false},
		{"empty", "", false},
	}
	seen := map[string]bool{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := request("alice", &valid)
			if tt.incoming != "" {
				r.Header["X-Request-Id"] = []string{tt.incoming}
			}
			w := f.serve(r)
			f.wantTenant(t, w, "acme")
			got := w.Header().Get("X-Request-ID")
			if tt.keep && got != tt.incoming {
				t.Fatalf("request ID %q, want the incoming %q", got, tt.incoming)
			}
			if !tt.keep && (got == tt.incoming || len(got) < 16 || seen[got]) {
				t.Fatalf("request ID %q for incoming %q, want a fresh random one", got, tt.incoming)
			}
			seen[got] = true
			if f.requestID != got || f.header.Get("X-Request-ID") != got {
				t.Fatalf("next saw ID %q in context, %q in header; response has %q", f.requestID, f.header.Get("X-Request-ID"), got)
			}
		})
	}
	t.Run("outer middleware's ID", func(t *testing.T) {
		r := request("alice", &valid)
		r = r.WithContext(event.WithRequestID(r.Context(), "outer-1"))
		r.Header.Set("X-Request-ID", "client-2")
		w := f.serve(r)
		if w.Header().Get("X-Request-ID") != "outer-1" || f.requestID != "outer-1" {
			t.Fatalf("response %q, context %q; want outer-1", w.Header().Get("X-Request-ID"), f.requestID)
		}
	})
	t.Run("refused request", func(t *testing.T) {
		r := request("alice", ptr("garbage"))
		r.Header.Set("X-Request-ID", "trace-7")
		w := f.serve(r)
		f.wantRefused(t, w, 403, tenanthttp.RuleMalformed)
		if w.Header().Get("X-Request-ID") != "trace-7" {
			t.Fatalf("refusal without the request ID: %q", w.Header().Get("X-Request-ID"))
		}
	})
	t.Run("other header", func(t *testing.T) {
		g := newFixture(t, tenanthttp.WithRequestIDHeader("X-Correlation-ID"))
		r := request("alice", ptr(sign(t, g.cookies, "alice", "acme")))
		r.Header.Set("X-Correlation-ID", "c-1")
		if w := g.serve(r); w.Header().Get("X-Correlation-ID") != "c-1" || g.requestID != "c-1" {
			t.Fatalf("X-Correlation-ID %q, context %q", w.Header().Get("X-Correlation-ID"), g.requestID)
		}
	})
}

// TestProblemBody checks the problem responses' shape and that nothing the
// client sent, and no tenant ID, comes back.
func TestProblemBody(t *testing.T) {
	f := newFixture(t, tenanthttp.WithSubdomain("example.com", resolveLabel))
	const evil = `<script>alert("x")</script>`
	cases := []*http.Request{
		request("alice", ptr(evil)),
		request("bob", ptr(sign(t, f.cookies, "bob", "acme"))),
		request("alice", ptr(sign(t, f.cookies, "alice", "globex"))),
		request("broken", ptr(sign(t, f.cookies, "broken", "acme"))),
	}
	cases[2].Host = "acme.example.com"
	for _, r := range cases {
		r.Header.Set("X-Tenant-ID", evil)
		r.Header.Set("X-Request-ID", "<b>")
		r.Header.Set("User-Agent", evil)
		w := f.serve(r)
		body := wantProblem(t, w, w.Code)
		if w.Code != 403 && w.Code != 503 {
			t.Fatalf("status %d", w.Code)
		}
		if body["status"] == nil || w.Header().Get("Cache-Control") != "no-store" || w.Header().Get("X-Content-Type-Options") != "nosniff" {
			t.Fatalf("headers %v", w.Header())
		}
		for _, leak := range []string{"script", "<b>", "acme", "globex", "alice", "bob", "broken", "down"} {
			if strings.Contains(w.Body.String(), leak) {
				t.Fatalf("problem body contains %q: %s", leak, w.Body)
			}
		}
	}
	for _, e := range f.events.all() {
		if strings.Contains(e.Message, "script") || strings.Contains(e.Tenant, "script") {
			t.Fatalf("event carries client bytes: %+v", e)
		}
	}
}

// TestUnavailableEvent checks that a failing membership check reports its
// error to the event handler (not to the client).
func TestUnavailableEvent(t *testing.T) {
	f := newFixture(t)
	w := f.serve(request("broken", ptr(sign(t, f.cookies, "broken", "acme"))))
	f.wantRefused(t, w, 503, tenanthttp.RuleLookupFailed)
	e := f.events.all()[0]
	if !strings.Contains(e.Message, errMembershipDown.Error()) || e.Tenant != "acme" {
		t.Fatalf("event %+v", e)
	}
	if strings.Contains(w.Body.String(), errMembershipDown.Error()) {
		t.Fatal("the error reached the client")
	}
}

// TestNamelessCookie: a Cookie header part without '=' is a cookie with
// an empty name (RFC 6265bis 5.4; browsers send a nameless cookie as its
// bare value), not a tenant cookie with an empty value. Anything able to
// set a nameless cookie whose value is the tenant cookie's name must not
// get the real tenant cookie refused and cleared.
func TestNamelessCookie(t *testing.T) {
	f := newFixture(t)
	valid := sign(t, f.cookies, "alice", "acme")
	r := request("alice", nil)
	r.Header.Set("Cookie", "tenant; tenant="+valid)
	f.wantTenant(t, f.serve(r), "acme")

	r = request("alice", nil)
	r.Header.Set("Cookie", "tenant")
	w := f.serve(r)
	f.wantRefused(t, w, 403, tenanthttp.RuleNoTenant)
	if len(w.Result().Cookies()) != 0 {
		t.Fatalf("a nameless cookie cleared the tenant cookie: %v", w.Result().Cookies())
	}

	// The cookie header split over several lines, with whitespace.
	r = request("alice", nil)
	r.Header["Cookie"] = []string{"a=1", " tenant=" + valid + " ", "b=2"}
	f.wantTenant(t, f.serve(r), "acme")
	// Case matters in cookie names (browsers keep TENANT and tenant apart).
	r = request("alice", nil)
	r.Header["Cookie"] = []string{"TENANT=garbage; Tenant=garbage", "tenant=" + valid}
	f.wantTenant(t, f.serve(r), "acme")
	// Two lines with one tenant cookie each are still two.
	r = request("alice", nil)
	r.Header["Cookie"] = []string{"tenant=" + valid, "tenant=" + valid}
	f.wantRefused(t, f.serve(r), 403, tenanthttp.RuleMalformed)
}

// TestNested: a tenant already in the context (an outer middleware's) is
// not a source, but the inner middleware may not replace it with another
// tenant: cookie B under an outer subdomain A is the disagreement one
// middleware with both sources refuses.
func TestNested(t *testing.T) {
	outer, err := tenanthttp.New(tenanthttp.WithSubdomain("example.com", resolveLabel), tenanthttp.WithEventHandler(&recorder{}))
	if err != nil {
		t.Fatal(err)
	}
	f := newFixture(t)
	h := outer.Handler(f.handler)
	serve := func(r *http.Request) *httptest.ResponseRecorder {
		f.called, f.tenant, f.hasTenant = false, "", false
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	r := request("alice", ptr(sign(t, f.cookies, "alice", "globex")))
	r.Host = "acme.example.com"
	f.wantRefused(t, serve(r), 403, tenanthttp.RuleSourcesDisagree)

	r = request("alice", ptr(sign(t, f.cookies, "alice", "acme")))
	r.Host = "acme.example.com"
	f.wantTenant(t, serve(r), "acme")

	// The same middleware twice gives the same answer.
	twice := f.mw.Handler(f.handler)
	w := httptest.NewRecorder()
	twice.ServeHTTP(w, request("alice", ptr(sign(t, f.cookies, "alice", "globex"))))
	f.wantTenant(t, w, "globex")
}
