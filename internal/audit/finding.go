package audit

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// Severity ranks a finding. The zero value is Low.
type Severity int

// Severities, lowest first.
const (
	Low Severity = iota
	Medium
	High
	Critical
)

var severityNames = [...]string{"low", "medium", "high", "critical"}

func (s Severity) String() string {
	if s < Low || s > Critical {
		return fmt.Sprintf("Severity(%d)", int(s))
	}
	return severityNames[s]
}

// ParseSeverity parses "low", "medium", "high" or "critical" (any case).
func ParseSeverity(s string) (Severity, error) {
	for i, n := range severityNames {
		if strings.EqualFold(s, n) {
			return Severity(i), nil
		}
	}
	return Low, fmt.Errorf("unknown severity %q (want low, medium, high or critical)", s)
}

// MarshalText writes the severity's name, so JSON shows "high", not 2.
func (s Severity) MarshalText() ([]byte, error) {
	if s < Low || s > Critical {
		return nil, fmt.Errorf("audit: invalid severity %d", int(s))
	}
	return []byte(s.String()), nil
}

// UnmarshalText parses a severity's name.
func (s *Severity) UnmarshalText(b []byte) error {
	v, err := ParseSeverity(string(b))
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// Kind is a finding's stable code (see the package doc for each).
type Kind string

// The kinds of finding; their values are the public contract.
const (
	TenantColumnNullable    Kind = "tenant_column_nullable"
	RLSDisabled             Kind = "rls_disabled"
	RLSNotForced            Kind = "rls_not_forced"
	PolicyMissing           Kind = "policy_missing"
	PolicyNotTenant         Kind = "policy_not_tenant"
	PolicyNoNullif          Kind = "policy_no_nullif"
	PolicyNoWithCheck       Kind = "policy_no_with_check"
	PolicySettingPerRow     Kind = "policy_setting_per_row"
	TenantIndexMissing      Kind = "tenant_index_missing"
	UniqueWithoutTenant     Kind = "unique_without_tenant"
	FKWithoutTenant         Kind = "fk_without_tenant"
	ViewNotSecurityInvoker  Kind = "view_not_security_invoker"
	SecurityDefinerFunction Kind = "security_definer_function"
	TruncateGranted         Kind = "truncate_granted"
	AppRoleSuperuser        Kind = "app_role_superuser"
	AppRoleBypassRLS        Kind = "app_role_bypassrls"
	AppRoleOwner            Kind = "app_role_owner"
	MissingTenantColumn     Kind = "missing_tenant_column"
)

// Kinds lists every kind, in the order of the package doc.
var Kinds = []Kind{
	TenantColumnNullable, RLSDisabled, RLSNotForced,
	PolicyMissing, PolicyNotTenant, PolicyNoNullif, PolicyNoWithCheck, PolicySettingPerRow,
	TenantIndexMissing, UniqueWithoutTenant, FKWithoutTenant,
	ViewNotSecurityInvoker, SecurityDefinerFunction, TruncateGranted,
	AppRoleSuperuser, AppRoleBypassRLS, AppRoleOwner, MissingTenantColumn,
}

// Finding is one problem. Its JSON form is the --json output of
// "pgx-tenant audit".
type Finding struct {
	Kind     Kind     `json:"kind"`
	Severity Severity `json:"severity"`
	// Table is the relation the finding is about, schema-qualified and
	// quoted as an SQL identifier where needed ("public.invoices"): the
	// tenant-owned table, or the view for view_not_security_invoker. It is
	// empty for findings about the app role itself (app_role_superuser,
	// app_role_bypassrls).
	Table string `json:"table"`
	// Object names what inside or around the table is at fault, when it is
	// not the table itself: a policy, constraint, index, function or role.
	Object string `json:"object,omitempty"`
	Detail string `json:"detail"`
	// Fix is the suggested SQL (several statements or SQL comments where a
	// step needs a decision); empty when there is no mechanical fix.
	Fix string `json:"fix"`
}

// Sort orders findings as the CLI prints them: most severe first, then by
// table, kind and object.
func Sort(fs []Finding) {
	slices.SortStableFunc(fs, func(a, b Finding) int {
		return cmp.Or(
			cmp.Compare(b.Severity, a.Severity),
			cmp.Compare(a.Table, b.Table),
			cmp.Compare(a.Kind, b.Kind),
			cmp.Compare(a.Object, b.Object),
		)
	})
}
