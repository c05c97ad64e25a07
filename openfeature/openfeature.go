// Package openfeature drives pgx-tenant's rollout from an OpenFeature flag
// service: a flags.Decider that asks an OpenFeature client, for each
// statement, the mode of each feature for its tenant and each table it
// names, and takes the strictest. Give it to the driver with
// driver.WithFlags:
//
//	openfeature.SetProviderAndWait(myProvider)
//	d := ptof.New(openfeature.NewClient("pgx-tenant"), flags.Defaults{flags.Guard: "audit"})
//	db, err := driver.OpenDB(*cfg, driver.WithFlags(d))
//
// The flags are string flags named GuardKey, RewriteKey and RequiredKey,
// with the modes of package flags as values. The evaluation context's
// targeting key is the tenant; its attributes are "table" (as the guard
// names it, "" for a statement that names none) and "feature". A value
// that is not a mode of its feature, or an evaluation error, gives the
// default. It is a module of its own, so that the OpenFeature SDK reaches
// only the modules that import it.
package openfeature

import (
	"context"

	of "github.com/open-feature/go-sdk/openfeature"

	"github.com/pgx-tenant/pgx-tenant/flags"
)

// Flag keys.
const (
	GuardKey    = "pgx-tenant.guard"
	RewriteKey  = "pgx-tenant.rewrite"
	RequiredKey = "pgx-tenant.required"
)

// Decider asks an OpenFeature client. It is safe for concurrent use.
type Decider struct {
	client *of.Client
	// defaults are the valid modes of defaults, "off" for the others.
	defaults flags.Defaults
}

var _ flags.Decider = (*Decider)(nil)

// New returns a Decider asking client, with the modes of defaults (the
// DSN's, usually) when the service has no answer.
func New(client *of.Client, defaults flags.Defaults) *Decider {
	d := &Decider{client: client, defaults: flags.Defaults{}}
	for _, f := range flags.Features {
		d.defaults[f] = flags.Strictest(f, defaults[f])
	}
	return d
}

// Decide returns the statement's modes: per feature, the strictest the
// service gives tenant for the tables.
func (d *Decider) Decide(tenant string, tables ...string) flags.Decision {
	return flags.Decision{
		Guard:    d.mode(flags.Guard, GuardKey, tenant, tables),
		Rewrite:  d.mode(flags.Rewrite, RewriteKey, tenant, tables),
		Required: d.mode(flags.Required, RequiredKey, tenant, tables),
	}
}

func (d *Decider) mode(f flags.Feature, key, tenant string, tables []string) string {
	def := d.defaults[f]
	if len(tables) == 0 {
		return d.ask(f, key, tenant, "", def)
	}
	best := "off"
	for _, t := range tables {
		best = flags.Strictest(f, best, d.ask(f, key, tenant, t, def))
	}
	return best
}

// ask is the service's mode of f for tenant on table, def when it has none.
func (d *Decider) ask(f flags.Feature, key, tenant, table, def string) string {
	ec := of.NewEvaluationContext(tenant, map[string]any{"table": table, "feature": string(f)})
	v, err := d.client.StringValue(context.Background(), key, def, ec)
	if err != nil || !flags.Valid(f, v) {
		return def
	}
	return v
}
