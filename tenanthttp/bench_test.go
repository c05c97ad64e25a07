package tenanthttp_test

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// BenchmarkHandler is the per-request cost of a cookie request with a
// browser's usual headers; "baseline" is the next handler alone.
func BenchmarkHandler(b *testing.B) {
	f := newFixture(b)
	f.events = &recorder{}
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})
	mw := f.mw.Handler(next)
	value := sign(b, f.cookies, "alice", "acme")
	r := request("alice", &value)
	for _, h := range []string{"Accept", "Accept-Encoding", "Accept-Language", "User-Agent", "Referer", "Sec-Fetch-Site", "Sec-Fetch-Mode", "Priority"} {
		r.Header.Set(h, "x")
	}
	for _, bc := range []struct {
		name string
		h    http.Handler
	}{{"baseline", next}, {"middleware", mw}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				bc.h.ServeHTTP(httptest.NewRecorder(), r)
			}
		})
	}
}

// BenchmarkVerify is the cookie check alone.
func BenchmarkVerify(b *testing.B) {
	c := newCookies(b)
	value := sign(b, c, "alice", "acme")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Verify(value); err != nil {
			b.Fatal(err)
		}
	}
}
