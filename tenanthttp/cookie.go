package tenanthttp

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/pgx-tenant/pgx-tenant/tenant"
)

// MinKeyLen is the shortest key secret, in bytes, NewCookies accepts: the
// output size of SHA-256, so the key is never the weaker half of the MAC.
const MinKeyLen = 32

// DefaultCookieName is the tenant cookie's name unless WithCookieName says
// otherwise. The __Host- prefix makes browsers accept the cookie only when
// it is Secure, has Path=/ and no Domain, so a sibling subdomain cannot
// plant one (cookie tossing). Without Secure (WithSecure(false)) the default
// is [InsecureCookieName].
const DefaultCookieName = "__Host-tenant"

// InsecureCookieName is the default name of a cookie that is not Secure.
const InsecureCookieName = "tenant"

// maxValueLen bounds what Verify reads; browsers keep cookies under 4 KiB.
const maxValueLen = 4096

var (
	// errPrincipalUTF8: JSON would replace the invalid bytes with U+FFFD,
	// binding the cookie to another principal than the one given.
	errPrincipalUTF8 = errors.New("tenanthttp: principal is not valid UTF-8")
	// errTooLong: browsers drop the cookie, and Verify would refuse it.
	errTooLong = errors.New("tenanthttp: tenant cookie longer than 4096 bytes")
)

// version is the first part of every value; the MAC covers it, so a value
// cannot be re-read under another format.
const version = "v1"

// macContext separates this package's MACs from anything else a key might
// be (mis)used for.
const macContext = "pgx-tenant/tenanthttp cookie\x00"

var b64 = base64.RawURLEncoding.Strict()

// Key is one HMAC-SHA256 key. ID names it inside every cookie it signs, so
// that verification picks the key by ID and keys can rotate: sign with the
// new key, keep verifying with the old one until the cookies it signed have
// expired, then remove it.
type Key struct {
	// ID is 1 to 16 characters from [A-Za-z0-9_-]. It is not secret.
	ID string
	// Secret is at least MinKeyLen random bytes (crypto/rand).
	Secret []byte
}

// Claims is what a tenant cookie says, once verified.
type Claims struct {
	Tenant string
	// Principal is who the cookie was issued to ("" if to nobody in
	// particular).
	Principal string
	Expires   time.Time
}

// payload is the signed JSON inside a cookie.
type payload struct {
	Tenant    string `json:"t"`
	Principal string `json:"p,omitempty"`
	Expires   int64  `json:"e"`
}

// Cookies writes and verifies signed tenant cookies. It is safe for
// concurrent use and holds no request state.
type Cookies struct {
	signer   Key
	verify   map[string][]byte
	name     string
	ttl      time.Duration
	secure   bool
	sameSite http.SameSite
	now      func() time.Time
}

// CookieOption configures NewCookies.
type CookieOption func(*cookieConfig)

type cookieConfig struct {
	verify   []Key
	name     string
	ttl      time.Duration
	secure   bool
	sameSite http.SameSite
	now      func() time.Time
}

// WithVerificationKeys adds keys that Verify accepts besides the signing
// key (default none): the previous keys during a rotation. A cookie signed
// with a key that is no longer listed is refused with ErrUnknownKey.
func WithVerificationKeys(keys ...Key) CookieOption {
	return func(c *cookieConfig) { c.verify = append(c.verify, keys...) }
}

// WithCookieName sets the cookie's name (default [DefaultCookieName], or
// [InsecureCookieName] with WithSecure(false)).
func WithCookieName(name string) CookieOption { return func(c *cookieConfig) { c.name = name } }

// WithTTL sets how long an issued cookie stays valid (default 12 hours; at
// least a second, since Max-Age and the signed expiry count whole seconds).
// The expiry is signed inside the value; the cookie's Max-Age only tells the
// browser when to forget it.
func WithTTL(d time.Duration) CookieOption { return func(c *cookieConfig) { c.ttl = d } }

// WithSecure sets the cookie's Secure attribute (default true: browsers
// send it over HTTPS only). Turn it off only for tests and plain-HTTP
// localhost development: without it, anyone on the network path can read the
// cookie and replay it.
func WithSecure(secure bool) CookieOption { return func(c *cookieConfig) { c.secure = secure } }

// WithSameSite sets the cookie's SameSite attribute: http.SameSiteLaxMode
// (the default) or http.SameSiteStrictMode; anything else is refused by
// NewCookies.
func WithSameSite(s http.SameSite) CookieOption { return func(c *cookieConfig) { c.sameSite = s } }

// WithClock sets the clock that issues and checks expiries (default
// time.Now). For tests.
func WithClock(now func() time.Time) CookieOption { return func(c *cookieConfig) { c.now = now } }

// NewCookies returns Cookies that sign with signing and verify with signing
// and the WithVerificationKeys keys. It returns an error wrapping
// ErrShortKey for a secret shorter than MinKeyLen, or ErrConfig for a bad
// key ID, duplicate IDs or a bad option.
func NewCookies(signing Key, opts ...CookieOption) (*Cookies, error) {
	cfg := cookieConfig{ttl: 12 * time.Hour, secure: true, sameSite: http.SameSiteLaxMode, now: time.Now}
	for _, o := range opts {
		o(&cfg)
	}
	c := &Cookies{verify: map[string][]byte{}, ttl: cfg.ttl, secure: cfg.secure, sameSite: cfg.sameSite, now: cfg.now, name: cfg.name}
	for i, k := range append([]Key{signing}, cfg.verify...) {
		if !validKeyID(k.ID) {
			return nil, fmt.Errorf("%w: key %d: ID must be 1 to 16 characters from [A-Za-z0-9_-]", ErrConfig, i)
		}
		if len(k.Secret) < MinKeyLen {
			return nil, fmt.Errorf("%w: key %q has %d bytes", ErrShortKey, k.ID, len(k.Secret))
		}
		if _, dup := c.verify[k.ID]; dup {
			return nil, fmt.Errorf("%w: key ID %q listed twice", ErrConfig, k.ID)
		}
		c.verify[k.ID] = bytes.Clone(k.Secret)
	}
	c.signer = Key{ID: signing.ID, Secret: c.verify[signing.ID]}
	if c.name == "" {
		c.name = DefaultCookieName
		if !c.secure {
			c.name = InsecureCookieName
		}
	}
	switch {
	case !validToken(c.name):
		return nil, fmt.Errorf("%w: cookie name must be a non-empty token", ErrConfig)
	case strings.HasPrefix(c.name, "__Host-") && !c.secure, strings.HasPrefix(c.name, "__Secure-") && !c.secure:
		return nil, fmt.Errorf("%w: browsers drop a %s cookie that is not Secure", ErrConfig, c.name)
	case c.ttl < time.Second:
		return nil, fmt.Errorf("%w: cookie TTL must be at least a second", ErrConfig)
	case c.sameSite != http.SameSiteLaxMode && c.sameSite != http.SameSiteStrictMode:
		return nil, fmt.Errorf("%w: SameSite must be Lax or Strict", ErrConfig)
	case c.now == nil:
		return nil, fmt.Errorf("%w: nil clock", ErrConfig)
	}
	return c, nil
}

// Name returns the cookie's name.
func (c *Cookies) Name() string { return c.name }

// Sign returns a cookie value naming tenantID, issued to principal ("" for
// nobody in particular), valid for the TTL. It fails for a tenant ID that
// tenant.Validate refuses, for a principal that is not valid UTF-8 (JSON
// could not carry it unchanged), and for a cookie longer than browsers keep
// (4096 bytes with its name).
//
// The value is v1.<key ID>.<payload>.<MAC>: base64url (unpadded) JSON
// {"t":tenant,"p":principal,"e":expiry} and HMAC-SHA256 over everything
// before the last dot. The payload is signed, not encrypted: the client can
// read its own tenant ID and principal.
func (c *Cookies) Sign(principal, tenantID string) (string, error) {
	if err := tenant.Validate(tenantID); err != nil {
		return "", err
	}
	if !utf8.ValidString(principal) {
		return "", errPrincipalUTF8
	}
	p, err := json.Marshal(payload{Tenant: tenantID, Principal: principal, Expires: c.now().Add(c.ttl).Unix()})
	if err != nil {
		return "", err
	}
	signed := version + "." + c.signer.ID + "." + b64.EncodeToString(p)
	value := signed + "." + b64.EncodeToString(mac(c.signer.Secret, signed))
	if len(c.name)+1+len(value) > maxValueLen {
		return "", errTooLong
	}
	return value, nil
}

// Verify checks a cookie value and returns its claims. The error is
// ErrMalformed, ErrUnknownKey, ErrBadSignature or ErrExpired; nothing from
// the value is trusted, or even decoded, before its MAC has been checked in
// constant time (hmac.Equal).
func (c *Cookies) Verify(value string) (Claims, error) {
	if value == "" || len(value) > maxValueLen || !validValueChars(value) {
		return Claims{}, ErrMalformed
	}
	if strings.Count(value, ".") != 3 {
		return Claims{}, ErrMalformed
	}
	ver, rest, _ := strings.Cut(value, ".")
	keyID, rest, _ := strings.Cut(rest, ".")
	body, sig, _ := strings.Cut(rest, ".")
	if ver != version {
		return Claims{}, ErrMalformed
	}
	secret, ok := c.verify[keyID]
	if !ok {
		return Claims{}, ErrUnknownKey
	}
	var got [sha256.Size]byte
	if len(sig) != b64.EncodedLen(sha256.Size) {
		return Claims{}, ErrMalformed
	}
	if _, err := b64.Decode(got[:], []byte(sig)); err != nil {
		return Claims{}, ErrMalformed
	}
	if !hmac.Equal(got[:], mac(secret, value[:len(value)-len(sig)-1])) {
		return Claims{}, ErrBadSignature
	}
	raw, err := b64.DecodeString(body)
	if err != nil {
		return Claims{}, ErrMalformed
	}
	var p payload
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil || dec.More() || tenant.Validate(p.Tenant) != nil {
		return Claims{}, ErrMalformed
	}
	exp := time.Unix(p.Expires, 0)
	if !c.now().Before(exp) {
		return Claims{}, ErrExpired
	}
	return Claims{Tenant: p.Tenant, Principal: p.Principal, Expires: exp}, nil
}

// Issue sets the tenant cookie on w (HttpOnly, Path=/, Secure and SameSite
// as configured, Max-Age = TTL), for principal in tenantID. Call it at login,
// after checking that principal may act in tenantID: Issue checks nothing
// but the ID's validity.
func (c *Cookies) Issue(w http.ResponseWriter, principal, tenantID string) error {
	v, err := c.Sign(principal, tenantID)
	if err != nil {
		return err
	}
	http.SetCookie(w, c.cookie(v, int(c.ttl/time.Second)))
	return nil
}

// Clear tells the browser to delete the tenant cookie. Call it at logout.
func (c *Cookies) Clear(w http.ResponseWriter) { http.SetCookie(w, c.cookie("", -1)) }

func (c *Cookies) cookie(value string, maxAge int) *http.Cookie {
	return &http.Cookie{Name: c.name, Value: value, Path: "/", MaxAge: maxAge,
		HttpOnly: true, Secure: c.secure, SameSite: c.sameSite}
}

// fromRequest returns the raw values of every cookie named like the tenant
// cookie in r. It reads the Cookie headers itself: net/http silently drops
// a cookie whose value has invalid bytes, which would turn a tampered
// cookie into an absent one. A part without '=' is a cookie without a name
// (RFC 6265bis 5.4: browsers send a nameless cookie as its bare value),
// never the tenant cookie: else whoever can set a nameless cookie "tenant"
// could make the real one look duplicated, refused and cleared.
func (c *Cookies) fromRequest(r *http.Request) []string {
	var vals []string
	for _, line := range r.Header.Values("Cookie") {
		for part := range strings.SplitSeq(line, ";") {
			name, val, named := strings.Cut(strings.TrimSpace(part), "=")
			if named && strings.TrimSpace(name) == c.name {
				vals = append(vals, val)
			}
		}
	}
	return vals
}

func mac(secret []byte, signed string) []byte {
	h := hmac.New(sha256.New, secret)
	h.Write([]byte(macContext))
	h.Write([]byte(signed))
	return h.Sum(nil)
}

func validKeyID(id string) bool {
	if id == "" || len(id) > 16 {
		return false
	}
	for i := 0; i < len(id); i++ {
		if !isB64URL(id[i]) {
			return false
		}
	}
	return true
}

func validValueChars(v string) bool {
	for i := 0; i < len(v); i++ {
		if !isB64URL(v[i]) && v[i] != '.' {
			return false
		}
	}
	return true
}

func isB64URL(b byte) bool {
	return 'a' <= b && b <= 'z' || 'A' <= b && b <= 'Z' || '0' <= b && b <= '9' || b == '-' || b == '_'
}

// validToken reports whether name is an RFC 9110 token: what cookie and
// header names are made of.
func validToken(name string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		b := name[i]
		if b <= ' ' || b >= 0x7f || strings.IndexByte(`()<>@,;:\"/[]?={}`, b) >= 0 {
			return false
		}
	}
	return true
}
