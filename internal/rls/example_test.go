package rls_test

import (
	"fmt"

	"github.com/pgx-tenant/pgx-tenant/internal/rls"
)

func ExampleCreatePolicySQL() {
	fmt.Println(rls.CreatePolicySQL("tenant_isolation", "public.events", "tenant_id", "uuid", "app.tenant_id", rls.Permissive))
	// Output:
	// CREATE POLICY tenant_isolation ON public.events AS PERMISSIVE FOR ALL TO PUBLIC
	//   USING (tenant_id = (SELECT NULLIF(current_setting('app.tenant_id', true), '')::uuid) OR tenant_id IS NULL)
	//   WITH CHECK (tenant_id = (SELECT NULLIF(current_setting('app.tenant_id', true), '')::uuid));
}
