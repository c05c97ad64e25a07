package tenanthttp

import "errors"

// Errors of the constructors and of [Cookies.Verify]. None of them contains
// a key, a cookie value or a tenant ID.
var (
	// ErrConfig is wrapped by the error New, NewCookies and
	// Middleware.SwitchHandler return for a configuration that is
	// incomplete or unsafe (see each option).
	ErrConfig = errors.New("tenanthttp: invalid configuration")

	// ErrShortKey is wrapped by the error NewCookies returns for a key
	// whose secret is shorter than [MinKeyLen] bytes.
	ErrShortKey = errors.New("tenanthttp: key shorter than 32 bytes")

	// ErrMalformed is returned by Cookies.Verify for a value that is not a
	// tenant cookie this package wrote: empty, too long, truncated, wrong
	// characters, wrong number of parts, invalid base64 or payload.
	ErrMalformed = errors.New("tenanthttp: malformed tenant cookie")

	// ErrUnknownKey is returned by Cookies.Verify for a cookie signed with
	// a key ID that is not among the verification keys (a key removed
	// after rotation, or one never known).
	ErrUnknownKey = errors.New("tenanthttp: tenant cookie signed with an unknown key")

	// ErrBadSignature is returned by Cookies.Verify when the MAC does not
	// match: the value was changed or signed with another secret.
	ErrBadSignature = errors.New("tenanthttp: tenant cookie signature mismatch")

	// ErrExpired is returned by Cookies.Verify for a correctly signed
	// cookie whose signed expiry has passed.
	ErrExpired = errors.New("tenanthttp: tenant cookie expired")
)

// Rules name the check that refused a request. They are the Rule of the
// [event.TenantRejected] and [event.TenantUnavailable] events.
const (
	RuleMalformed         = "malformed"          // tenant cookie unreadable, duplicated or truncated
	RuleUnknownKey        = "unknown_key"        // tenant cookie signed with a key not listed
	RuleBadSignature      = "bad_signature"      // tenant cookie MAC mismatch
	RuleExpired           = "expired"            // tenant cookie past its signed expiry
	RulePrincipalMismatch = "principal_mismatch" // tenant cookie issued to another principal
	RuleBadHost           = "bad_host"           // Host not the base domain or one label under it
	RuleInvalidTenant     = "invalid_tenant"     // a source produced an ID tenant.Validate refuses
	RuleSourcesDisagree   = "sources_disagree"   // two sources name different tenants
	RuleNoTenant          = "no_tenant"          // no source names a tenant (and one is required)
	RuleNoPrincipal       = "no_principal"       // membership must be checked but nobody is signed in
	RuleNotMember         = "not_member"         // the principal is not a member of the tenant
	RuleCrossOrigin       = "cross_origin"       // a switch request that is not same-origin
	RuleLookupFailed      = "lookup_failed"      // a caller-supplied function returned an error
)

const docURL = "https://pkg.go.dev/github.com/pgx-tenant/pgx-tenant/tenanthttp"

// Problem types: the "type" member of the RFC 9457 problem responses the
// middleware and the switch handler write. Each links to its own
// documentation.
const (
	// ProblemCredential (403): the tenant cookie is malformed, signed with
	// an unknown key, forged, expired, or issued to another principal.
	ProblemCredential = docURL + "#ProblemCredential"
	// ProblemConflict (403): sources name different tenants.
	ProblemConflict = docURL + "#ProblemConflict"
	// ProblemNotMember (403): the principal is not a member of the tenant,
	// or no principal is signed in where membership is checked.
	ProblemNotMember = docURL + "#ProblemNotMember"
	// ProblemNoTenant (403): no source names a tenant, or the one named is
	// not a valid tenant ID.
	ProblemNoTenant = docURL + "#ProblemNoTenant"
	// ProblemBadHost (403): the Host is not served (see WithSubdomain).
	ProblemBadHost = docURL + "#ProblemBadHost"
	// ProblemCrossOrigin (403): a switch request not proven same-origin.
	ProblemCrossOrigin = docURL + "#ProblemCrossOrigin"
	// ProblemUnavailable (503): a membership check, subdomain resolver or
	// principal's tenant function failed; nothing was allowed through.
	ProblemUnavailable = docURL + "#ProblemUnavailable"
	// ProblemBadRequest (400, 405, 413, 415): a switch request with the
	// wrong method, media type, size or body.
	ProblemBadRequest = docURL + "#ProblemBadRequest"
)
