package tenanthttp

import (
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"

	"github.com/pgx-tenant/pgx-tenant/event"
	"github.com/pgx-tenant/pgx-tenant/tenant"
)

// maxSwitchBody bounds a switch request's body.
const maxSwitchBody = 4 << 10

// SwitchHandler returns the handler that switches the signed-in principal
// to another tenant by issuing a new tenant cookie. Mount it outside the
// middleware (beside login), so that a principal whose cookie expired can
// still switch.
//
// It accepts only POST (405 otherwise), only same-origin requests (the
// browser's Sec-Fetch-Site: same-origin, or an Origin listed by
// WithAllowedOrigins; 403 otherwise, also when neither header is sent), a
// body of application/json {"tenant":"…"} or
// application/x-www-form-urlencoded tenant=… (400, 413, 415 otherwise), and
// only a tenant the principal is a member of (403; 503 when the check
// fails). With WithSubdomain, on a tenant's own host only that tenant
// (403 RuleSourcesDisagree otherwise; RuleBadHost for a host outside the
// base domain). It answers 200 with {"tenant":"…"} and the new cookie.
//
// It returns an error wrapping ErrConfig unless WithCookies, WithPrincipal
// and WithMembership were given.
func (m *Middleware) SwitchHandler() (http.Handler, error) {
	if m.cfg.cookies == nil || m.cfg.principal == nil || m.cfg.member == nil {
		return nil, fmt.Errorf("%w: the switch handler needs WithCookies, WithPrincipal and WithMembership", ErrConfig)
	}
	return http.HandlerFunc(m.serveSwitch), nil
}

func (m *Middleware) serveSwitch(w http.ResponseWriter, r *http.Request) {
	ctx := m.requestID(w, r)
	m.stripHeaders(r)
	w.Header().Set("Cache-Control", "no-store")
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeProblem(w, badRequest(http.StatusMethodNotAllowed, "Switch tenants with POST."))
		return
	}
	if !m.sameOrigin(r) {
		m.refuse(ctx, w, &refusal{rule: RuleCrossOrigin})
		return
	}
	principal, ok := m.cfg.principal(r)
	if !ok {
		m.refuse(ctx, w, &refusal{rule: RuleNoPrincipal})
		return
	}
	target, p := readTarget(w, r)
	if p != nil {
		writeProblem(w, *p)
		return
	}
	// On a tenant's own host, a cookie for another tenant would only be
	// refused there (the sources would disagree): switch by going to the
	// other tenant's host instead. Checked first, so that a foreign host
	// or another tenant's host costs no membership lookup.
	if host, ok, ref := m.hostTenant(ctx, r); ref != nil {
		m.refuse(ctx, w, ref)
		return
	} else if ok && host != target {
		m.refuse(ctx, w, &refusal{rule: RuleSourcesDisagree, tenant: host})
		return
	}
	if ref := m.checkMember(ctx, principal, true, target); ref != nil {
		ref.tenant = "" // the client's word, not verified: kept out of events
		m.refuse(ctx, w, ref)
		return
	}
	if err := m.cfg.cookies.Issue(w, principal, target); err != nil {
		writeProblem(w, badRequest(http.StatusBadRequest, "The body must name a valid tenant."))
		return
	}
	m.cfg.events.Handle(ctx, event.Event{Kind: event.TenantSwitched, Tenant: target,
		RequestID: event.RequestID(ctx), Message: "tenant switched; new tenant cookie issued"})
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(struct {
		Tenant string `json:"tenant"`
	}{target})
}

// sameOrigin reports whether a browser says r comes from a page of this
// application. A request without either header is refused: browsers send
// Origin with every POST, so only non-browser clients omit it, and they can
// switch through Origin too.
func (m *Middleware) sameOrigin(r *http.Request) bool {
	if r.Header.Get("Sec-Fetch-Site") == "same-origin" {
		return true
	}
	origin := r.Header.Values("Origin")
	if len(origin) != 1 {
		return false
	}
	n, ok := normOrigin(origin[0])
	return ok && m.origins[n]
}

// readTarget reads the tenant a switch request names, or the problem.
func readTarget(w http.ResponseWriter, r *http.Request) (string, *problem) {
	r.Body = http.MaxBytesReader(w, r.Body, maxSwitchBody)
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	var target string
	switch {
	case err != nil:
		p := badRequest(http.StatusUnsupportedMediaType, "Send application/json or application/x-www-form-urlencoded.")
		return "", &p
	case mt == "application/json":
		var body struct {
			Tenant string `json:"tenant"`
		}
		dec := json.NewDecoder(r.Body)
		dec.DisallowUnknownFields()
		if err := dec.Decode(&body); err != nil || dec.More() {
			return "", tooLargeOr(err, "The body must be {\"tenant\": \"…\"}.")
		}
		target = body.Tenant
	case mt == "application/x-www-form-urlencoded":
		if err := r.ParseForm(); err != nil {
			return "", tooLargeOr(err, "The body must be a form with one tenant field.")
		}
		if len(r.PostForm["tenant"]) != 1 {
			p := badRequest(http.StatusBadRequest, "The body must be a form with one tenant field.")
			return "", &p
		}
		target = r.PostForm.Get("tenant")
	default:
		p := badRequest(http.StatusUnsupportedMediaType, "Send application/json or application/x-www-form-urlencoded.")
		return "", &p
	}
	if tenant.Validate(target) != nil {
		p := badRequest(http.StatusBadRequest, "The body must name a valid tenant.")
		return "", &p
	}
	return target, nil
}

func tooLargeOr(err error, detail string) *problem {
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		p := badRequest(http.StatusRequestEntityTooLarge, "The body is too large.")
		return &p
	}
	p := badRequest(http.StatusBadRequest, detail)
	return &p
}
