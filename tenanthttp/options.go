package tenanthttp

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/pgx-tenant/pgx-tenant/event"
)

// DefaultTenantHeaders are the request headers a client might use to name
// a tenant. The middleware never reads them and removes them from the
// request before the next handler (see WithTenantHeaders).
var DefaultTenantHeaders = []string{"X-Tenant-ID", "X-Tenant", "Tenant-ID", "X-Org-ID"}

// DefaultRequestIDHeader is the header the request ID is read from and
// echoed in unless WithRequestIDHeader says otherwise.
const DefaultRequestIDHeader = "X-Request-ID"

// Option configures New.
type Option func(*config)

type config struct {
	cookies         *Cookies
	baseDomain      string
	resolve         func(ctx context.Context, label string) (string, bool, error)
	principal       func(r *http.Request) (string, bool)
	principalTenant func(ctx context.Context, principal string) (string, bool, error)
	member          func(ctx context.Context, principal, tenantID string) (bool, error)
	stripHeaders    []string
	trustedHeaders  []string
	required        bool
	events          event.Handler
	requestIDHeader string
	origins         []string
	nilOptions      []string // options given a nil function or *Cookies
}

// noteNil records an option given nil: New refuses it rather than
// silently turning the source or check off.
func (cfg *config) noteNil(isNil bool, option string) {
	if isNil {
		cfg.nilOptions = append(cfg.nilOptions, option)
	}
}

// WithCookies makes the signed tenant cookie a source (the first; default:
// none). See [Cookies].
func WithCookies(c *Cookies) Option {
	return func(cfg *config) { cfg.cookies = c; cfg.noteNil(c == nil, "WithCookies") }
}

// WithSubdomain makes the request's subdomain a source (the second;
// default: none). baseDomain is the domain the application is served under
// ("example.com"). The Host header, without its port, lower-cased and
// without a trailing dot, must be baseDomain itself (then this source names
// no tenant) or exactly one DNS label under it; anything else (another
// domain, an IP address, an IPv6 literal, two labels deep, characters
// outside [a-z0-9-]) is refused with 403 (RuleBadHost). resolve maps the
// label ("acme" in acme.example.com) to a tenant ID; ok false means the
// label names no tenant (e.g. "www"); an error refuses the request with 503.
func WithSubdomain(baseDomain string, resolve func(ctx context.Context, label string) (tenantID string, ok bool, err error)) Option {
	return func(cfg *config) {
		cfg.baseDomain, cfg.resolve = baseDomain, resolve
		cfg.noteNil(resolve == nil, "WithSubdomain")
	}
}

// WithPrincipal sets how the middleware learns who is signed in (default:
// nobody ever is). principal is the caller's own: typically it reads what
// the caller's authentication middleware, run before this one, put in the
// request's context. The middleware trusts its answer completely. It
// requires WithMembership, and binds tenant cookies to the principal: a
// cookie issued to another principal (or to none) is refused.
func WithPrincipal(principal func(r *http.Request) (principal string, ok bool)) Option {
	return func(cfg *config) { cfg.principal = principal; cfg.noteNil(principal == nil, "WithPrincipal") }
}

// WithPrincipalTenant makes the principal's own tenant a source (the third;
// default: none): for principals bound to one tenant, such as API tokens or
// a token's tenant claim. ok false means the principal has no tenant of its
// own; an error refuses the request with 503. Requires WithPrincipal. Do
// not use it to return a "home" tenant of users who can switch: after a
// switch, cookie and home tenant would disagree and every request would be
// refused.
func WithPrincipalTenant(f func(ctx context.Context, principal string) (tenantID string, ok bool, err error)) Option {
	return func(cfg *config) { cfg.principalTenant = f; cfg.noteNil(f == nil, "WithPrincipalTenant") }
}

// WithMembership sets the check that principal may act in tenantID
// (default: none; required with WithPrincipal — pass a function returning
// true to do without, deliberately). It runs on every request that has a
// tenant, and in the switch handler. false refuses the request with 403;
// an error refuses it with 503. It receives the request's context.
func WithMembership(member func(ctx context.Context, principal, tenantID string) (bool, error)) Option {
	return func(cfg *config) { cfg.member = member; cfg.noteNil(member == nil, "WithMembership") }
}

// WithTenantHeaders replaces the list of request headers removed before the
// next handler (default [DefaultTenantHeaders]). Matching ignores case and
// treats '_' as '-', because some frameworks and proxies read X_Tenant_ID
// and X-Tenant-ID as the same header.
func WithTenantHeaders(names ...string) Option {
	return func(cfg *config) { cfg.stripHeaders = append([]string(nil), names...) }
}

// WithTrustedHeaders keeps the named headers of the strip list in the
// request (default: none kept). The middleware still never reads them.
// Risk: any client can send them, so code after the middleware that reads
// one (an ORM hook, a proxy to a backend, a logging field used for
// authorization) would act on an attacker's tenant. Trust a header only if
// something in front of the application (a gateway that authenticates)
// always overwrites it.
func WithTrustedHeaders(names ...string) Option {
	return func(cfg *config) { cfg.trustedHeaders = append(cfg.trustedHeaders, names...) }
}

// WithTenantRequired says what happens to a request for which no source
// names a tenant: refused with 403 (true, the default), or passed to the
// next handler without a tenant (false). Without a tenant the pgx-tenant
// driver runs statements with the setting cleared, so RLS policies match no
// row (or refuses them with tenant_required): it fails closed either way,
// but the handler runs. A source that names a tenant and fails a check is
// refused either way, never treated as no tenant.
func WithTenantRequired(required bool) Option { return func(cfg *config) { cfg.required = required } }

// WithEventHandler sets where refusals are reported (default:
// event.Slog(slog.Default()); nil discards them). Handle runs on the
// request's goroutine, before the response is written.
func WithEventHandler(h event.Handler) Option { return func(cfg *config) { cfg.events = h } }

// WithRequestIDHeader sets the header the request ID is read from and
// written to (default [DefaultRequestIDHeader]).
func WithRequestIDHeader(name string) Option {
	return func(cfg *config) { cfg.requestIDHeader = name }
}

// WithAllowedOrigins lists the origins ("https://app.example.com", scheme
// and host and port as a browser sends them in Origin) from which the
// switch handler accepts requests (default: none, so only browsers that
// send Sec-Fetch-Site: same-origin can switch). The scheme's default port
// may be written or not; an internationalized host must be written in
// its ASCII (xn--) form, the one browsers send.
func WithAllowedOrigins(origins ...string) Option {
	return func(cfg *config) { cfg.origins = append(cfg.origins, origins...) }
}

func defaultConfig() config {
	return config{
		stripHeaders:    append([]string(nil), DefaultTenantHeaders...),
		required:        true,
		events:          event.Slog(slog.Default()),
		requestIDHeader: DefaultRequestIDHeader,
	}
}
