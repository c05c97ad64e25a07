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
		RuleSourcesDisagree:   forbidden(ProblemConflict, "Conflicting tenants", "The request names more than one tenant."),
		RuleNotMember:         forbidden(ProblemNotMember, notMember, "The signed-in principal may not act in the requested tenant."),
		RuleNoPrincipal:       forbidden(ProblemNotMember, notMember, "Nobody is signed in."),
		RuleNoTenant:          forbidden(ProblemNoTenant, noTenant, "The request does not name a tenant."),
		RuleInvalidTenant:     forbidden(ProblemNoTenant, noTenant, "The request does not name a valid tenant."),
		RuleBadHost:           forbidden(ProblemBadHost, "Unknown host", "The request's host is not served here."),
		RuleCrossOrigin:       forbidden(ProblemCrossOrigin, "Cross-origin request refused", "Tenant switches must come from a page of this application."),
		RuleLookupFailed: {typ: ProblemUnavailable, status: http.StatusServiceUnavailable,
			title: "Tenant check unavailable", detail: "The tenant could not be checked; try again later."},
	}
)

// Titles shared by two rules: one problem type, one title.
const (
	notMember = "Not a member of the tenant"
	noTenant  = "Tenant required"
)

func forbidden(typ, title, detail string) problem {
	return problem{typ: typ, status: http.StatusForbidden, title: title, detail: detail}
}

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
