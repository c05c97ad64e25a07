package tenanthttp

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/pgx-tenant/pgx-tenant/event"
	"github.com/pgx-tenant/pgx-tenant/tenant"
)

// Middleware resolves each request's tenant (see the package doc for the
// sources and their order) and refuses requests whose tenant fails a check.
// It is safe for concurrent use.
type Middleware struct {
	cfg     config
	strip   map[string]bool // normalized header names removed from requests
	origins map[string]bool // normalized allowed origins of the switch handler
}

// New returns a Middleware configured by opts. It returns an error
// wrapping ErrConfig for an option given a nil function or nil Cookies,
// when no source is configured, when WithPrincipal and
// WithMembership are not given together, when WithPrincipalTenant lacks
// WithPrincipal, for a base domain that is not a host name, or for an
// allowed origin that is not scheme://host[:port].
func New(opts ...Option) (*Middleware, error) {
	cfg := defaultConfig()
	for _, o := range opts {
		o(&cfg)
	}
	m := &Middleware{strip: map[string]bool{}, origins: map[string]bool{}}
	if cfg.events == nil {
		cfg.events = event.HandlerFunc(func(context.Context, event.Event) {})
	}
	switch {
	case len(cfg.nilOptions) > 0:
		return nil, fmt.Errorf("%w: %s given nil", ErrConfig, strings.Join(cfg.nilOptions, ", "))
	case cfg.cookies == nil && cfg.resolve == nil && cfg.principalTenant == nil:
		return nil, fmt.Errorf("%w: no tenant source (WithCookies, WithSubdomain or WithPrincipalTenant)", ErrConfig)
	case cfg.principal != nil && cfg.member == nil:
		return nil, fmt.Errorf("%w: WithPrincipal needs WithMembership (without it any signed-in principal could act in any tenant a source names)", ErrConfig)
	case cfg.member != nil && cfg.principal == nil:
		return nil, fmt.Errorf("%w: WithMembership needs WithPrincipal", ErrConfig)
	case cfg.principalTenant != nil && cfg.principal == nil:
		return nil, fmt.Errorf("%w: WithPrincipalTenant needs WithPrincipal", ErrConfig)
	case !validToken(cfg.requestIDHeader):
		return nil, fmt.Errorf("%w: request ID header must be a header name", ErrConfig)
	}
	if cfg.resolve != nil {
		base := strings.TrimSuffix(strings.ToLower(cfg.baseDomain), ".")
		if !validHostName(base) {
			return nil, fmt.Errorf("%w: base domain must be a host name like example.com", ErrConfig)
		}
		cfg.baseDomain = base
	}
	for _, h := range cfg.stripHeaders {
		m.strip[normHeader(h)] = true
	}
	for _, h := range cfg.trustedHeaders {
		delete(m.strip, normHeader(h))
	}
	for _, o := range cfg.origins {
		n, ok := normOrigin(o)
		if !ok {
			return nil, fmt.Errorf("%w: allowed origin %q is not scheme://host[:port]", ErrConfig, o)
		}
		m.origins[n] = true
	}
	m.cfg = cfg
	return m, nil
}

// Handler returns next wrapped by the middleware. For every request it
// assigns a request ID (event.WithRequestID, echoed in the response),
// removes the client-supplied tenant headers, resolves the tenant and puts
// it into the request's context (tenant.NewContext), or answers with a
// problem response and never calls next.
//
// A tenant already in the request's context (an outer middleware's, or
// this one nested) is never replaced by another: if the sources name a
// different tenant, the request is refused (RuleSourcesDisagree), as a
// cookie and a subdomain that disagree are. It is not a source either:
// with no source naming a tenant, the request is refused, or, with
// WithTenantRequired(false), passed on with its context as it is.
//
// CORS preflight (OPTIONS) requests carry no cookies: answer them before
// the middleware, or they are refused like any request without a tenant.
func (m *Middleware) Handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := m.requestID(w, r)
		m.stripHeaders(r)
		if m.cfg.cookies != nil {
			w.Header().Add("Vary", "Cookie")
		}
		id, ok, ref := m.resolve(ctx, r)
		if ref != nil {
			m.refuse(ctx, w, ref)
			return
		}
		if ok {
			ctx = tenant.NewContext(ctx, id)
		}
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// refusal is why a request is refused.
type refusal struct {
	rule   string
	tenant string // for the event, only when a verified source named it
	err    error  // of a caller-supplied function (lookup_failed)
}

// resolve runs the sources in order. A source that names a tenant and
// fails a check refuses the request at once: it never falls through to the
// next source.
func (m *Middleware) resolve(ctx context.Context, r *http.Request) (string, bool, *refusal) {
	var principal string
	var signedIn bool
	if m.cfg.principal != nil {
		if principal, signedIn = m.cfg.principal(r); !signedIn {
			principal = ""
		}
	}
	// A tenant already in the context (an outer layer's) is not a source,
	// but every source must agree with it: replacing it would undo the
	// checks that chose it (e.g. its subdomain).
	prior, hasPrior := tenant.FromContext(ctx)
	var found string
	agree := func(id string) *refusal {
		if (found != "" && id != found) || (hasPrior && id != prior) {
			return &refusal{rule: RuleSourcesDisagree, tenant: cmp.Or(found, id)}
		}
		found = id
		return nil
	}

	if c := m.cfg.cookies; c != nil {
		switch vals := c.fromRequest(r); len(vals) {
		case 0:
		case 1:
			claims, err := c.Verify(vals[0])
			if err != nil {
				return "", false, &refusal{rule: cookieRule(err)}
			}
			if m.cfg.principal != nil && claims.Principal != principal {
				return "", false, &refusal{rule: RulePrincipalMismatch, tenant: claims.Tenant}
			}
			if ref := agree(claims.Tenant); ref != nil {
				return "", false, ref
			}
		default: // several: planted by a sibling domain, or by a bug
			return "", false, &refusal{rule: RuleMalformed}
		}
	}

	if id, ok, ref := m.hostTenant(ctx, r); ref != nil {
		return "", false, ref
	} else if ok {
		if ref := agree(id); ref != nil {
			return "", false, ref
		}
	}

	if m.cfg.principalTenant != nil && signedIn {
		id, ok, err := m.cfg.principalTenant(ctx, principal)
		if err != nil {
			return "", false, &refusal{rule: RuleLookupFailed, err: fmt.Errorf("principal tenant: %w", err)}
		}
		if ok {
			if tenant.Validate(id) != nil {
				return "", false, &refusal{rule: RuleInvalidTenant}
			}
			if ref := agree(id); ref != nil {
				return "", false, ref
			}
		}
	}

	if found == "" {
		if m.cfg.required {
			return "", false, &refusal{rule: RuleNoTenant}
		}
		return "", false, nil
	}
	if ref := m.checkMember(ctx, principal, signedIn, found); ref != nil {
		return "", false, ref
	}
	return found, true, nil
}

// hostTenant is the tenant the request's subdomain names (WithSubdomain),
// ok false when it names none or no resolver is configured.
func (m *Middleware) hostTenant(ctx context.Context, r *http.Request) (string, bool, *refusal) {
	if m.cfg.resolve == nil {
		return "", false, nil
	}
	label, ok := subdomain(r.Host, m.cfg.baseDomain)
	if !ok {
		return "", false, &refusal{rule: RuleBadHost}
	}
	if label == "" {
		return "", false, nil
	}
	id, ok, err := m.cfg.resolve(ctx, label)
	switch {
	case err != nil:
		return "", false, &refusal{rule: RuleLookupFailed, err: fmt.Errorf("subdomain resolver: %w", err)}
	case !ok:
		return "", false, nil
	case tenant.Validate(id) != nil:
		return "", false, &refusal{rule: RuleInvalidTenant}
	}
	return id, true, nil
}

func (m *Middleware) checkMember(ctx context.Context, principal string, signedIn bool, id string) *refusal {
	if m.cfg.member == nil {
		return nil
	}
	if !signedIn {
		return &refusal{rule: RuleNoPrincipal, tenant: id}
	}
	ok, err := m.cfg.member(ctx, principal, id)
	switch {
	case err != nil:
		return &refusal{rule: RuleLookupFailed, tenant: id, err: fmt.Errorf("membership check: %w", err)}
	case !ok:
		return &refusal{rule: RuleNotMember, tenant: id}
	}
	return nil
}

func cookieRule(err error) string {
	switch {
	case errors.Is(err, ErrExpired):
		return RuleExpired
	case errors.Is(err, ErrBadSignature):
		return RuleBadSignature
	case errors.Is(err, ErrUnknownKey):
		return RuleUnknownKey
	}
	return RuleMalformed
}

// refuse reports ref and answers with its problem.
func (m *Middleware) refuse(ctx context.Context, w http.ResponseWriter, ref *refusal) {
	p := problems[ref.rule]
	kind := event.TenantRejected
	msg := "request refused: " + p.title
	if ref.err != nil {
		kind = event.TenantUnavailable
		msg = "request refused: " + ref.err.Error()
	}
	m.cfg.events.Handle(ctx, event.Event{Kind: kind, Rule: ref.rule, Tenant: ref.tenant,
		RequestID: event.RequestID(ctx), Message: msg})
	if p.credential && m.cfg.cookies != nil {
		m.cfg.cookies.Clear(w) // the browser should stop sending it
	}
	writeProblem(w, p)
}

// stripHeaders removes the client-supplied tenant headers. It runs on
// every request: the names are normalized into a stack buffer, and the map
// lookup of string(bytes) does not allocate.
func (m *Middleware) stripHeaders(r *http.Request) {
	var buf [64]byte
	for name := range r.Header {
		if m.strip[string(appendHeaderKey(buf[:0], name))] {
			delete(r.Header, name)
		}
	}
}

func normHeader(name string) string { return string(appendHeaderKey(nil, name)) }

// appendHeaderKey appends name trimmed, lower-cased and with '_' as '-'.
func appendHeaderKey(b []byte, name string) []byte {
	name = strings.TrimSpace(name)
	for i := 0; i < len(name); i++ {
		if name[i] >= utf8.RuneSelf { // rare: let Unicode case folding decide
			return append(b, strings.ReplaceAll(strings.ToLower(name), "_", "-")...)
		}
	}
	for i := 0; i < len(name); i++ {
		switch c := name[i]; {
		case 'A' <= c && c <= 'Z':
			b = append(b, c+'a'-'A')
		case c == '_':
			b = append(b, '-')
		default:
			b = append(b, c)
		}
	}
	return b
}

// normOrigin returns scheme://host[:port] lower-cased and without the
// scheme's default port (browsers omit it), or false. A host that is not
// ASCII is refused: browsers send the xn-- form, so it could never match.
func normOrigin(o string) (string, bool) {
	u, err := url.Parse(o)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.Opaque != "" ||
		u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return "", false
	}
	host, port := strings.ToLower(u.Hostname()), u.Port()
	for i := 0; i < len(host); i++ {
		if host[i] >= utf8.RuneSelf {
			return "", false
		}
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	if port == "" || (u.Scheme == "https" && port == "443") || (u.Scheme == "http" && port == "80") {
		return u.Scheme + "://" + host, true
	}
	return u.Scheme + "://" + host + ":" + port, true
}
