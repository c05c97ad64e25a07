package tenanthttp_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/pgx-tenant/pgx-tenant/tenant"
	"github.com/pgx-tenant/pgx-tenant/tenanthttp"
)

// Keys rotate: sign with the new key, keep verifying with the old one
// until its cookies have expired, then drop it.
func ExampleNewCookies() {
	oldKey := tenanthttp.Key{ID: "2025-05", Secret: bytes.Repeat([]byte{1}, 32)} // use crypto/rand
	newKey := tenanthttp.Key{ID: "2025-06", Secret: bytes.Repeat([]byte{2}, 32)}

	old, _ := tenanthttp.NewCookies(oldKey)
	value, _ := old.Sign("alice", "acme")

	rotating, _ := tenanthttp.NewCookies(newKey, tenanthttp.WithVerificationKeys(oldKey))
	claims, err := rotating.Verify(value)
	fmt.Println(claims.Tenant, claims.Principal, err)

	rotated, _ := tenanthttp.NewCookies(newKey)
	_, err = rotated.Verify(value)
	fmt.Println(errors.Is(err, tenanthttp.ErrUnknownKey))

	_, err = tenanthttp.NewCookies(tenanthttp.Key{ID: "k", Secret: []byte("too short")})
	fmt.Println(errors.Is(err, tenanthttp.ErrShortKey))
	// Output:
	// acme alice <nil>
	// true
	// true
}

// The tenant comes from the signed cookie; a tenant header a client sends
// is removed, and a tampered cookie is refused with a problem response.
func ExampleMiddleware_Handler() {
	cookies, _ := tenanthttp.NewCookies(tenanthttp.Key{ID: "k1", Secret: bytes.Repeat([]byte{7}, 32)})
	mw, _ := tenanthttp.New(
		tenanthttp.WithCookies(cookies),
		tenanthttp.WithPrincipal(func(r *http.Request) (string, bool) { return "alice", true }), // your auth
		tenanthttp.WithMembership(func(_ context.Context, principal, tenantID string) (bool, error) {
			return tenantID == "acme", nil // your membership table
		}),
		tenanthttp.WithEventHandler(nil),
	)
	app := mw.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, _ := tenant.FromContext(r.Context())
		fmt.Fprintf(w, "tenant %s, X-Tenant-ID %q\n", id, r.Header.Get("X-Tenant-ID"))
	}))

	value, _ := cookies.Sign("alice", "acme")
	for _, v := range []string{value, strings.Replace(value, "v1.k1.", "v1.k1.e", 1)} {
		r := httptest.NewRequest("GET", "https://app.example.com/invoices", nil)
		r.AddCookie(&http.Cookie{Name: cookies.Name(), Value: v})
		r.Header.Set("X-Tenant-ID", "globex")
		w := httptest.NewRecorder()
		app.ServeHTTP(w, r)
		fmt.Print(w.Code, " ", w.Body)
	}
	// Output:
	// 200 tenant acme, X-Tenant-ID ""
	// 403 {"type":"https://pkg.go.dev/github.com/pgx-tenant/pgx-tenant/tenanthttp#ProblemCredential","title":"Invalid tenant credential","status":403,"detail":"The tenant cookie is not valid for this session; sign in or switch tenants again."}
}

// A switch is a same-origin POST naming a tenant the principal belongs to.
func ExampleMiddleware_SwitchHandler() {
	cookies, _ := tenanthttp.NewCookies(tenanthttp.Key{ID: "k1", Secret: bytes.Repeat([]byte{7}, 32)},
		tenanthttp.WithClock(func() time.Time { return time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC) }))
	mw, _ := tenanthttp.New(
		tenanthttp.WithCookies(cookies),
		tenanthttp.WithPrincipal(func(r *http.Request) (string, bool) { return "alice", true }),
		tenanthttp.WithMembership(func(_ context.Context, principal, tenantID string) (bool, error) {
			return tenantID == "acme" || tenantID == "globex", nil
		}),
		tenanthttp.WithAllowedOrigins("https://app.example.com"),
		tenanthttp.WithEventHandler(nil),
	)
	switcher, _ := mw.SwitchHandler()
	for _, origin := range []string{"https://app.example.com", "https://evil.example"} {
		r := httptest.NewRequest("POST", "https://app.example.com/switch", strings.NewReader(`{"tenant":"globex"}`))
		r.Header.Set("Content-Type", "application/json")
		r.Header.Set("Origin", origin)
		w := httptest.NewRecorder()
		switcher.ServeHTTP(w, r)
		fmt.Println(origin, w.Code, w.Header().Get("Content-Type"))
		for _, c := range w.Result().Cookies() {
			claims, _ := cookies.Verify(c.Value)
			fmt.Println(" ", c.Name, claims.Tenant, claims.Expires.Format(time.DateTime), c.HttpOnly, c.Secure, c.SameSite == http.SameSiteLaxMode)
		}
	}
	// Output:
	// https://app.example.com 200 application/json
	//   __Host-tenant globex 2025-06-01 12:00:00 true true true
	// https://evil.example 403 application/problem+json
}
