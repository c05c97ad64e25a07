// Package tenanthttp is net/http middleware that decides which tenant a
// request acts for and puts it into the request's context with
// [tenant.NewContext], where the pgx-tenant driver reads it and binds it as
// the PostgreSQL setting that Row-Level-Security policies check.
//
//	cookies, err := tenanthttp.NewCookies(tenanthttp.Key{ID: "2025-06", Secret: secret})
//	mw, err := tenanthttp.New(
//		tenanthttp.WithCookies(cookies),
//		tenanthttp.WithPrincipal(userFromContext),  // your authentication's answer
//		tenanthttp.WithMembership(isMember),        // your membership table
//	)
//	switcher, err := mw.SwitchHandler()
//	mux.Handle("POST /switch", auth(switcher))
//	mux.Handle("/", auth(mw.Handler(app)))
//
// It depends on the standard library and the tenant and event packages
// only: no cgo, no SQL parser.
//
// # Sources and their order
//
// A tenant can come from three sources, each enabled by an option and
// consulted in this order:
//
//  1. the signed tenant cookie ([WithCookies]);
//  2. the request's subdomain, mapped to a tenant by your resolver
//     ([WithSubdomain]);
//  3. the principal's own tenant, from your function ([WithPrincipalTenant]).
//
// A source either names no tenant (no cookie; the bare base domain or a
// label the resolver does not know; a principal without a tenant of its
// own) and is skipped, or names one that must pass its checks: a source
// that fails refuses the request at once, and the middleware never falls
// back to the next source or to another tenant. All sources that name a
// tenant must name the same one: cookie A on subdomain B is refused
// (RuleSourcesDisagree), and so is a tenant that differs from one an outer
// layer already put into the request's context (the middleware nested, see
// [Middleware.Handler]). When a principal is configured ([WithPrincipal]),
// [WithMembership] then checks that the principal is a member of that
// tenant, on every request. Only then does the next handler run, with the
// tenant and the request ID in its context.
//
// When no source names a tenant, the request is refused with 403 unless
// [WithTenantRequired](false) lets it through without a tenant of the
// middleware's choosing (see [Middleware.Handler] for an outer one); the driver
// then fails closed (no rows; or ErrNoTenant with tenant_required).
//
// # Cookies and key rotation
//
// The cookie value is v1.<key ID>.<payload>.<MAC>: the payload (tenant,
// principal, expiry) in base64url JSON, and HMAC-SHA256 over everything
// before the MAC, compared with hmac.Equal. The expiry is inside the signed
// payload, so a client cannot extend it; the cookie's Max-Age is only a
// hint to the browser. Keys are at least 32 bytes ([MinKeyLen]); each has an
// ID that the cookie names, so verification picks the key by ID. To rotate:
// deploy the new key as the signing key with the old one in
// [WithVerificationKeys]; once every cookie the old key signed has expired
// (the TTL), remove it — its cookies are then refused ([ErrUnknownKey]).
// A leaked key is removed at once, logging everyone out of their tenant.
//
// Cookies are HttpOnly, Path=/, Secure unless [WithSecure](false) (tests and
// plain-HTTP localhost only), SameSite=Lax or Strict, and named
// __Host-tenant by default, a prefix with which browsers refuse cookies set
// by a sibling subdomain. Several cookies of that name in one request are
// refused rather than one of them picked. [Cookies.Issue] sets one at login
// and [Cookies.Clear] removes it at logout; a refused cookie is cleared too.
//
// With [WithPrincipal], a cookie is bound to the principal it was issued
// to: the principal is in the signed payload and must equal the request's
// principal. A cookie copied from another user's browser, or left behind
// by the previous user of a shared one, is refused (RulePrincipalMismatch).
// The payload is signed, not encrypted: it holds no secret.
//
// # Headers
//
// Clients can send any header. The middleware never reads a tenant from a
// header, and it deletes [DefaultTenantHeaders] (X-Tenant-ID, X-Tenant,
// Tenant-ID, X-Org-ID, matched ignoring case and '_' versus '-') from the
// request before the next handler, so no later code can pick up an
// attacker's tenant by accident. [WithTenantHeaders] changes the list;
// [WithTrustedHeaders] keeps a header, for setups where a gateway in front
// always sets it (read its documentation for the risk). Request trailers
// (r.Trailer, filled in when the body has been read) are not touched:
// never read a tenant from one either.
//
// Every request gets a request ID ([event.WithRequestID]): the one an outer
// middleware put into the context, else the client's X-Request-ID if it is
// at most 64 bytes of printable ASCII, else a random one. It is echoed in
// the response header and carried by every event of the request, including
// the driver's.
//
// # Errors
//
// Refusals are RFC 9457 problem responses (application/problem+json with
// type, title, status and detail), written from constants: they never
// contain what the client sent, nor any tenant ID. A failed check is 403,
// with one of the Problem types; a caller-supplied function that returns an
// error (membership check, resolver, principal's tenant) is 503
// [ProblemUnavailable] and never lets the request through. Each refusal is
// reported to the [event.Handler] ([WithEventHandler]) as an
// [event.TenantRejected] or [event.TenantUnavailable] event whose Rule is
// one of the Rule constants, so that operators see what clients do not.
//
// # Switching tenants
//
// A user who belongs to several tenants switches with a POST to
// [Middleware.SwitchHandler], which checks membership and issues a new
// cookie. A switch changes what every later request reads and writes, so it
// must not be forgeable by another site: the handler accepts POST only, and
// only requests the browser marks as same-origin (Sec-Fetch-Site:
// same-origin) or whose Origin is listed by [WithAllowedOrigins]. SameSite
// on the cookie is a second line. With subdomains, switch by navigating to
// the other tenant's host instead: a cookie for B read on A's host is a
// disagreement, so the switch handler refuses a switch to B on A's host
// (RuleSourcesDisagree) rather than issue a cookie that would lock the user
// out of it; on the bare base domain it switches freely.
//
// # Threat model
//
// Protected: a client naming a tenant it may not act for by sending a
// tenant header, forging, editing, truncating, replaying an expired, or
// replaying another principal's tenant cookie, combining a cookie with
// another tenant's subdomain, sending a Host outside the base domain, or
// making a victim's browser switch tenants from another site. Each check
// that fails stops the request before the application runs, and the driver
// and Row-Level Security below it still apply if the application forgets a
// check of its own.
//
// Not protected, by design:
//
//   - Authentication. The middleware does not know who anybody is: it trusts
//     the [WithPrincipal] function completely. If your authentication can be
//     fooled, so can tenant isolation.
//   - Membership. It trusts your [WithMembership] answer; membership revoked
//     takes effect on the next request because the check runs on every one.
//   - Cookie theft. HttpOnly, Secure and SameSite make it harder; a stolen
//     cookie is still useful to whoever holds the matching session of the
//     principal it is bound to, until it expires. Keep the TTL short.
//   - The Host header. Subdomain resolution trusts r.Host once it passes the
//     base-domain check. Behind a proxy, make sure the proxy forwards the
//     client's Host only for names it serves and never rewrites it from an
//     X-Forwarded-Host the client sent; if your app copies X-Forwarded-Host
//     into r.Host, it must do so only for a trusted proxy's requests. A
//     forged Host can only name a tenant, which membership then checks:
//     without a principal (public per-tenant sites) the subdomain is the
//     whole authorization.
//   - Key management. Keys are secrets of at least 32 random bytes; whoever
//     holds one can sign any tenant.
//   - Shared caches. Responses depend on the tenant: the middleware adds
//     Vary: Cookie, but set Cache-Control: private on tenant data yourself.
package tenanthttp
