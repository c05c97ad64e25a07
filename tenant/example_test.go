package tenant_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/pgx-tenant/pgx-tenant/tenant"
)

func ExampleNewContext() {
	ctx := tenant.NewContext(context.Background(), "acme")
	id, ok := tenant.FromContext(ctx)
	fmt.Println(id, ok)
	// Output: acme true
}

func ExampleValidate() {
	fmt.Println(tenant.Validate("acme"))
	err := tenant.Validate("")
	fmt.Println(errors.Is(err, tenant.ErrInvalidID), err)
	// Output:
	// <nil>
	// true tenant: invalid tenant ID: empty
}

func ExampleWithBypass() {
	ctx := tenant.WithBypass(context.Background(), "support ticket 4711")
	reason, ok := tenant.BypassReason(ctx)
	fmt.Println(reason, ok)
	// Output: support ticket 4711 true
}
