package schema

import (
	"context"
	"fmt"

	"entgo.io/ent"
	"entgo.io/ent/dialect/sql"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/mixin"

	"github.com/pgx-tenant/pgx-tenant/examples/ent/ent/hook"
	"github.com/pgx-tenant/pgx-tenant/examples/ent/ent/intercept"
	"github.com/pgx-tenant/pgx-tenant/tenant"
)

// TenantMixin makes a schema tenant-owned, following ent's multi-tenancy
// pattern: it adds the tenant_id column, an interceptor that adds
// tenant_id = <the context's tenant> to every query (including eager loads
// and graph traversals), and a hook that adds it to every update and
// delete. Row-Level Security already limits what each statement can touch;
// the predicate makes it visible in the SQL too, which is what the driver's
// guard (tenant_guard=enforce) checks.
//
// Inserts need no predicate: tenant_id is filled by the database from the
// tenant the driver bound, so it is optional and immutable here.
//
// Two things the mixin cannot reach:
//   - edge predicates (author.HasBooksWith, book.HasAuthorWith) build a
//     sub-select on the other table that no interceptor sees: put the
//     tenant predicate inside them (author.HasBooksWith(book.TenantID(id), …));
//   - UpdateOne re-reads the updated row by its id alone (ent leaves the
//     mutation's predicates out of that SELECT); RLS still scopes it, but
//     the guard refuses it under enforce: use Update().Where(book.ID(id)).
type TenantMixin struct {
	mixin.Schema
}

// TenantColumn is the column the driver's guard looks for (tenant_column).
const TenantColumn = "tenant_id"

// Fields of the TenantMixin.
func (TenantMixin) Fields() []ent.Field {
	return []ent.Field{
		field.String(TenantColumn).Optional().Immutable(),
	}
}

// Interceptors of the TenantMixin. A traverse function runs on every query
// of the schema, also when it is an eager load (WithBooks) or a step of a
// traversal (QueryBooks).
func (TenantMixin) Interceptors() []ent.Interceptor {
	return []ent.Interceptor{
		intercept.TraverseFunc(func(ctx context.Context, q intercept.Query) error {
			q.WhereP(tenantP(ctx))
			return nil
		}),
	}
}

// Hooks of the TenantMixin.
func (TenantMixin) Hooks() []ent.Hook {
	return []ent.Hook{
		hook.On(
			func(next ent.Mutator) ent.Mutator {
				return ent.MutateFunc(func(ctx context.Context, m ent.Mutation) (ent.Value, error) {
					w, ok := m.(interface{ WhereP(...func(*sql.Selector)) })
					if !ok {
						return nil, fmt.Errorf("schema: unexpected mutation type %T", m)
					}
					w.WhereP(tenantP(ctx))
					return next.Mutate(ctx, m)
				})
			},
			ent.OpUpdate|ent.OpUpdateOne|ent.OpDelete|ent.OpDeleteOne,
		),
	}
}

// tenantP is the predicate tenant_id = <the context's tenant>. A context
// without a tenant compares tenant_id with the empty string, which matches
// no row (the driver binds an empty setting, so RLS shows none either).
func tenantP(ctx context.Context) func(*sql.Selector) {
	id, _ := tenant.FromContext(ctx)
	return sql.FieldEQ(TenantColumn, id)
}
