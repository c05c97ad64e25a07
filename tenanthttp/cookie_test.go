package tenanthttp_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/pgx-tenant/pgx-tenant/tenanthttp"
)

// forge builds a cookie value the way the package does, with a payload of
// the test's choosing, signed with secret: it proves that Verify checks
// more than the MAC.
func forge(secret []byte, kid, payload string) string {
	signed := "v1." + kid + "." + base64.RawURLEncoding.EncodeToString([]byte(payload))
	h := hmac.New(sha256.New, secret)
	h.Write([]byte("pgx-tenant/tenanthttp cookie\x00"))
	h.Write([]byte(signed))
	return signed + "." + base64.RawURLEncoding.EncodeToString(h.Sum(nil))
}

func TestNewCookiesRefuses(t *testing.T) {
	short := tenanthttp.Key{ID: "k1", Secret: bytes.Repeat([]byte{1}, tenanthttp.MinKeyLen-1)}
	tests := []struct {
		name    string
		signing tenanthttp.Key
		opts    []tenanthttp.CookieOption
		want    error
	}{
		{"short signing key", short, nil, tenanthttp.ErrShortKey},
		{"nil secret", tenanthttp.Key{ID: "k1"}, nil, tenanthttp.ErrShortKey},
		{"short verification key", testKey("k1", 1), []tenanthttp.CookieOption{tenanthttp.WithVerificationKeys(tenanthttp.Key{ID: "k0", Secret: []byte("short")})}, tenanthttp.ErrShortKey},
		{"empty key ID", testKey("", 1), nil, tenanthttp.ErrConfig},
		{"key ID with a dot", testKey("k.1", 1), nil, tenanthttp.ErrConfig},
		{"key ID too long", testKey(strings.Repeat("k", 17), 1), nil, tenanthttp.ErrConfig},
		{"duplicate key ID", testKey("k1", 1), []tenanthttp.CookieOption{tenanthttp.WithVerificationKeys(testKey("k1", 2))}, tenanthttp.ErrConfig},
		{"__Host- cookie not Secure", testKey("k1", 1), []tenanthttp.CookieOption{tenanthttp.WithSecure(false), tenanthttp.WithCookieName("__Host-t")}, tenanthttp.ErrConfig},
		{"__Secure- cookie not Secure", testKey("k1", 1), []tenanthttp.CookieOption{tenanthttp.WithSecure(false), tenanthttp.WithCookieName("__Secure-t")}, tenanthttp.ErrConfig},
		{"SameSite=None", testKey("k1", 1), []tenanthttp.CookieOption{tenanthttp.WithSameSite(http.SameSiteNoneMode)}, tenanthttp.ErrConfig},
		{"SameSite default mode", testKey("k1", 1), []tenanthttp.CookieOption{tenanthttp.WithSameSite(http.SameSiteDefaultMode)}, tenanthttp.ErrConfig},
		{"zero TTL", testKey("k1", 1), []tenanthttp.CookieOption{tenanthttp.WithTTL(0)}, tenanthttp.ErrConfig},
		// Max-Age counts whole seconds (0 would make a session cookie) and
		// the signed expiry is truncated to the second: a shorter TTL
		// issues cookies that are already expired.
		{"TTL under a second", testKey("k1", 1), []tenanthttp.CookieOption{tenanthttp.WithTTL(999 * time.Millisecond)}, tenanthttp.ErrConfig},
		{"bad cookie name", testKey("k1", 1), []tenanthttp.CookieOption{tenanthttp.WithCookieName("a;b")}, tenanthttp.ErrConfig},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := tenanthttp.NewCookies(tt.signing, tt.opts...)
			if !errors.Is(err, tt.want) || c != nil {
				t.Fatalf("NewCookies = %v, %v; want %v", c, err, tt.want)
			}
			if strings.Contains(err.Error(), "\x01") || strings.Contains(err.Error(), "\x02") {
				t.Fatalf("error leaks a secret: %q", err)
			}
		})
	}
}

func TestCookieDefaults(t *testing.T) {
	c, err := tenanthttp.NewCookies(testKey("k1", 1))
	if err != nil {
		t.Fatal(err)
	}
	if c.Name() != tenanthttp.DefaultCookieName {
		t.Fatalf("name %q", c.Name())
	}
	w := httptest.NewRecorder()
	if err := c.Issue(w, "alice", "acme"); err != nil {
		t.Fatal(err)
	}
	got := w.Result().Cookies()[0]
	if !got.HttpOnly || !got.Secure || got.SameSite != http.SameSiteLaxMode || got.Path != "/" || got.Domain != "" || got.MaxAge != 12*3600 {
		t.Fatalf("issued cookie %+v", got)
	}
	insecure := newCookies(t, tenanthttp.WithSameSite(http.SameSiteStrictMode), tenanthttp.WithTTL(time.Hour))
	w = httptest.NewRecorder()
	insecure.Issue(w, "", "acme")
	got = w.Result().Cookies()[0]
	if got.Name != tenanthttp.InsecureCookieName || got.Secure || got.SameSite != http.SameSiteStrictMode || got.MaxAge != 3600 {
		t.Fatalf("issued cookie %+v", got)
	}
	w = httptest.NewRecorder()
	insecure.Clear(w)
	got = w.Result().Cookies()[0]
	if got.Value != "" || got.MaxAge >= 0 || !got.HttpOnly || got.Path != "/" {
		t.Fatalf("cleared cookie %+v", got)
	}
	if err := insecure.Issue(httptest.NewRecorder(), "alice", ""); err == nil {
		t.Fatal("Issue accepted an empty tenant ID")
	}
}

func TestVerifyRoundTrip(t *testing.T) {
	c := newCookies(t)
	claims, err := c.Verify(sign(t, c, "alice", "société-générale"))
	if err != nil {
		t.Fatal(err)
	}
	if claims.Tenant != "société-générale" || claims.Principal != "alice" || !claims.Expires.Equal(t0.Add(12*time.Hour)) {
		t.Fatalf("claims %+v", claims)
	}
}

func TestVerifyRefuses(t *testing.T) {
	c := newCookies(t)
	valid := sign(t, c, "alice", "acme")
	parts := strings.Split(valid, ".")
	secret := testKey("k1", 1).Secret
	sameIDOtherSecret := newCookiesWith(t, testKey("k1", 9))
	unknownKey := newCookiesWith(t, testKey("zz", 1))
	exp := t0.Add(time.Hour).Unix()
	tests := []struct {
		name, value string
		want        error
	}{
		{"empty", "", tenanthttp.ErrMalformed},
		{"garbage", "hello world", tenanthttp.ErrMalformed},
		{"one part", "v1", tenanthttp.ErrMalformed},
		{"three parts", strings.Join(parts[:3], "."), tenanthttp.ErrMalformed},
		{"five parts", valid + ".x", tenanthttp.ErrMalformed},
		{"empty parts", "...", tenanthttp.ErrMalformed},
		{"other version", "v2." + strings.Join(parts[1:], "."), tenanthttp.ErrMalformed},
		{"base64 padding", valid + "=", tenanthttp.ErrMalformed},
		{"standard base64 alphabet", "v1.k1.a+b/.c+d/", tenanthttp.ErrMalformed},
		{"invalid base64 MAC", strings.Join(parts[:3], ".") + ".!!!!", tenanthttp.ErrMalformed},
		{"MAC not 32 bytes", strings.Join(parts[:3], ".") + ".AAAA", tenanthttp.ErrMalformed},
		{"quoted", `"` + valid + `"`, tenanthttp.ErrMalformed},
		{"too long", valid + strings.Repeat("A", 4096), tenanthttp.ErrMalformed},
		// Correctly signed, but longer than any cookie Sign writes: refused
		// before the MAC is even computed.
		{"signed, too long", forge(secret, "k1", `{"t":"acme","p":"`+strings.Repeat("a", 4096)+`","e":`+itoa(int(exp))+`}`), tenanthttp.ErrMalformed},
		{"NUL", valid[:10] + "\x00" + valid[11:], tenanthttp.ErrMalformed},
		{"signed with another secret under the same ID", sign(t, sameIDOtherSecret, "alice", "acme"), tenanthttp.ErrBadSignature},
		{"unknown key ID", sign(t, unknownKey, "alice", "acme"), tenanthttp.ErrUnknownKey},
		{"MAC of another value", strings.Join(parts[:3], ".") + "." + strings.Split(sign(t, c, "alice", "globex"), ".")[3], tenanthttp.ErrBadSignature},
		{"payload of another value", parts[0] + "." + parts[1] + "." + strings.Split(sign(t, c, "alice", "globex"), ".")[2] + "." + parts[3], tenanthttp.ErrBadSignature},
		{"extended expiry, old MAC", parts[0] + "." + parts[1] + "." + base64.RawURLEncoding.EncodeToString([]byte(`{"t":"acme","p":"alice","e":99999999999}`)) + "." + parts[3], tenanthttp.ErrBadSignature},
		{"signed, expired", forge(secret, "k1", `{"t":"acme","e":`+itoa(int(t0.Unix()))+`}`), tenanthttp.ErrExpired},
		{"signed, no expiry", forge(secret, "k1", `{"t":"acme"}`), tenanthttp.ErrExpired},
		{"signed, empty tenant", forge(secret, "k1", `{"t":"","e":`+itoa(int(exp))+`}`), tenanthttp.ErrMalformed},
		{"signed, NUL in tenant", forge(secret, "k1", `{"t":"a\u0000b","e":`+itoa(int(exp))+`}`), tenanthttp.ErrMalformed},
		{"signed, unknown field", forge(secret, "k1", `{"t":"acme","e":`+itoa(int(exp))+`,"admin":true}`), tenanthttp.ErrMalformed},
		{"signed, trailing data", forge(secret, "k1", `{"t":"acme","e":`+itoa(int(exp))+`}{}`), tenanthttp.ErrMalformed},
		{"signed, not JSON", forge(secret, "k1", `acme`), tenanthttp.ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			claims, err := c.Verify(tt.value)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Verify = %+v, %v; want %v", claims, err, tt.want)
			}
		})
	}
	// The forgery helper itself produces cookies Verify accepts.
	if _, err := c.Verify(forge(secret, "k1", `{"t":"acme","e":`+itoa(int(exp))+`}`)); err != nil {
		t.Fatalf("forge is out of step with the package: %v", err)
	}
}

// TestVerifyEveryBitFlip flips every bit of every byte of a valid cookie:
// each result must be refused.
func TestVerifyEveryBitFlip(t *testing.T) {
	c := newCookies(t)
	valid := sign(t, c, "alice", "acme")
	for i := 0; i < len(valid); i++ {
		for bit := 0; bit < 8; bit++ {
			b := []byte(valid)
			b[i] ^= 1 << bit
			if claims, err := c.Verify(string(b)); err == nil {
				t.Fatalf("flipping bit %d of byte %d (%q) verified: %+v", bit, i, b, claims)
			}
		}
	}
}

// TestVerifyEveryPrefix checks that every truncation is refused.
func TestVerifyEveryPrefix(t *testing.T) {
	c := newCookies(t)
	valid := sign(t, c, "alice", "acme")
	for n := 0; n < len(valid); n++ {
		if claims, err := c.Verify(valid[:n]); err == nil {
			t.Fatalf("prefix of %d bytes verified: %+v", n, claims)
		}
		if claims, err := c.Verify(valid[len(valid)-n:]); err == nil && n < len(valid) {
			t.Fatalf("suffix of %d bytes verified: %+v", n, claims)
		}
	}
}

func TestExpiry(t *testing.T) {
	now := t0
	c := newCookies(t, tenanthttp.WithTTL(time.Hour), tenanthttp.WithClock(func() time.Time { return now }))
	v := sign(t, c, "alice", "acme")
	now = t0.Add(time.Hour - time.Second)
	if _, err := c.Verify(v); err != nil {
		t.Fatalf("a second before expiry: %v", err)
	}
	now = t0.Add(time.Hour)
	if _, err := c.Verify(v); !errors.Is(err, tenanthttp.ErrExpired) {
		t.Fatalf("at expiry: %v, want ErrExpired", err)
	}
}

func TestKeyRotation(t *testing.T) {
	clock := tenanthttp.WithClock(func() time.Time { return t0 })
	insecure := tenanthttp.WithSecure(false)
	old, err := tenanthttp.NewCookies(testKey("2025-05", 1), insecure, clock)
	if err != nil {
		t.Fatal(err)
	}
	oldCookie := sign(t, old, "alice", "acme")

	// Step 1: sign with the new key, still verify the old one.
	rotating, err := tenanthttp.NewCookies(testKey("2025-06", 2), insecure, clock, tenanthttp.WithVerificationKeys(testKey("2025-05", 1)))
	if err != nil {
		t.Fatal(err)
	}
	if claims, err := rotating.Verify(oldCookie); err != nil || claims.Tenant != "acme" {
		t.Fatalf("old key while listed: %+v, %v", claims, err)
	}
	newCookie := sign(t, rotating, "alice", "acme")
	if !strings.HasPrefix(newCookie, "v1.2025-06.") {
		t.Fatalf("rotating Cookies signs with %q, want the new key", newCookie[:12])
	}
	if _, err := old.Verify(newCookie); !errors.Is(err, tenanthttp.ErrUnknownKey) {
		t.Fatalf("old server verifying a new-key cookie: %v, want ErrUnknownKey", err)
	}

	// Step 2: the old key removed.
	rotated, err := tenanthttp.NewCookies(testKey("2025-06", 2), insecure, clock)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rotated.Verify(oldCookie); !errors.Is(err, tenanthttp.ErrUnknownKey) {
		t.Fatalf("old key after removal: %v, want ErrUnknownKey", err)
	}
	if _, err := rotated.Verify(newCookie); err != nil {
		t.Fatalf("new key: %v", err)
	}

	// A cookie naming a listed key ID but signed with another secret.
	impostor := newCookiesWith(t, testKey("2025-05", 7), insecure, clock)
	if _, err := rotating.Verify(sign(t, impostor, "alice", "acme")); !errors.Is(err, tenanthttp.ErrBadSignature) {
		t.Fatalf("listed key ID, other secret: %v, want ErrBadSignature", err)
	}
}

// TestSecretsCopied checks that changing the caller's key slice after
// NewCookies changes nothing.
func TestSecretsCopied(t *testing.T) {
	k := testKey("k1", 1)
	c, err := tenanthttp.NewCookies(k, tenanthttp.WithClock(func() time.Time { return t0 }))
	if err != nil {
		t.Fatal(err)
	}
	v := sign(t, c, "", "acme")
	for i := range k.Secret {
		k.Secret[i] = 0
	}
	if _, err := c.Verify(v); err != nil {
		t.Fatalf("after the caller zeroed its key: %v", err)
	}
}

// TestSignRefusesUnrepresentable: a principal JSON cannot carry unchanged
// (invalid UTF-8 is replaced by U+FFFD, so "bob\xff" and "bob\xfe" would
// sign the same payload, valid for the principal "bob\uFFFD") and a value
// longer than Verify reads are refused when signing, not by every request
// afterwards.
func TestSignRefusesUnrepresentable(t *testing.T) {
	c := newCookies(t)
	for _, p := range []string{"bob\xff", "\xfe", strings.Repeat("<", 1000)} {
		if v, err := c.Sign(p, "acme"); err == nil {
			claims, verr := c.Verify(v)
			t.Errorf("Sign(%.20q) = %d bytes; Verify: principal %.20q, %v", p, len(v), claims.Principal, verr)
		}
		if err := c.Issue(httptest.NewRecorder(), p, "acme"); err == nil {
			t.Errorf("Issue(%.20q) succeeded", p)
		}
	}
	if _, err := c.Sign(strings.Repeat("p", 512)+"\u00e9", "acme"); err != nil {
		t.Fatalf("a long valid principal: %v", err)
	}
}
