package tenanthttp

import (
	"encoding/json"
	"net/http"
	"strconv"
)

// problem is an RFC 9457 problem detail. Its fields are constants of this
// package: nothing a client sent, no tenant ID, is ever written back.
type problem struct {
	typ, title, detail string
	status             int
	credential         bool // the tenant cookie is bad: tell the browser to drop it
}

var (
	credential = problem{typ: ProblemCredential, status: http.StatusForbidden, credential: true,
		title: "Invalid tenant credential", detail: "The tenant cookie is not valid for this session; sign in or switch tenants again."}
	problems = map[string]problem{
		RuleMalformed:         credential,
		RuleUnknownKey:        credential,
		RuleBadSignature:      credential,
		RuleExpired:           credential,
		RulePrincipalMismatch: credential,
		RuleSourcesDisagree: {typ: ProblemConflict, status: http.StatusForbidden,
			title: "Conflicting tenants", detail: "The request names more than one tenant."},
		RuleNotMember: {typ: ProblemNotMember, status: http.StatusForbidden,
			title: "Not a member of the tenant", detail: "The signed-in principal may not act in the requested tenant."},
		RuleNoPrincipal: {typ: ProblemNotMember, status: http.StatusForbidden,
			title: "Not a member of the tenant", detail: "Nobody is signed in."},
		RuleNoTenant: {typ: ProblemNoTenant, status: http.StatusForbidden,
			title: "Tenant required", detail: "The request does not name a tenant."},
		RuleInvalidTenant: {typ: ProblemNoTenant, status: http.StatusForbidden,
			title: "Tenant required", detail: "The request does not name a valid tenant."},
		RuleBadHost: {typ: ProblemBadHost, status: http.StatusForbidden,
			title: "Unknown host", detail: "The request's host is not served here."},
		RuleCrossOrigin: {typ: ProblemCrossOrigin, status: http.StatusForbidden,
			title: "Cross-origin request refused", detail: "Tenant switches must come from a page of this application."},
		RuleLookupFailed: {typ: ProblemUnavailable, status: http.StatusServiceUnavailable,
			title: "Tenant check unavailable", detail: "The tenant could not be checked; try again later."},
	}
)

func badRequest(status int, detail string) problem {
	return problem{typ: ProblemBadRequest, status: status, title: "Bad request", detail: detail}
}

func writeProblem(w http.ResponseWriter, p problem) {
	body, _ := json.Marshal(struct {
		Type   string `json:"type"`
		Title  string `json:"title"`
		Status int    `json:"status"`
		Detail string `json:"detail"`
	}{p.typ, p.title, p.status, p.detail})
	h := w.Header()
	h.Set("Content-Type", "application/problem+json")
	h.Set("Content-Length", strconv.Itoa(len(body)+1))
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(p.status)
	w.Write(append(body, '\n'))
}
