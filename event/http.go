package event

// Kinds reported by the HTTP middleware (package tenanthttp). Their events
// carry the request's RequestID, the Rule that decided, and the Tenant only
// when it came from a verified source (a signed cookie, the subdomain
// resolver, the principal's tenant function), never a value a client sent
// unverified.
const (
	// TenantRejected: a request was refused because of its tenant (a bad,
	// expired or foreign tenant cookie, sources that name different
	// tenants, a tenant the principal is not a member of, no tenant, an
	// unknown host, a cross-origin switch). Rule says which check refused
	// it; the response was a 4xx problem and no handler ran.
	TenantRejected Kind = "tenant_rejected"
	// TenantUnavailable: a request was refused because a caller-supplied
	// function it depended on (membership check, subdomain resolver,
	// principal's tenant) returned an error. Message carries the error;
	// the response was 503 and no handler ran.
	TenantUnavailable Kind = "tenant_unavailable"
	// TenantSwitched: a principal switched to another tenant through the
	// switch handler and was issued a new tenant cookie (Tenant is the new
	// tenant). Logged at Info: an audit trail, not a warning.
	TenantSwitched Kind = "tenant_switched"
)
