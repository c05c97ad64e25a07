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
	client   *of.Client
	defaults flags.Defaults
}

var _ flags.Decider = (*Decider)(nil)

// New returns a Decider asking client, with the modes of defaults (the
// DSN's, usually) when the service has no answer.
func New(client *of.Client, defaults flags.Defaults) *Decider {
	return &Decider{client: client, defaults: defaults}
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
	if !flags.Valid(f, def) {
		def = "off"
	}
	if len(tables) == 0 {
		tables = []string{""}
	}
	modes := make([]string, 0, len(tables))
	for _, t := range tables {
		ec := of.NewEvaluationContext(tenant, map[string]any{"table": t, "feature": string(f)})
		v, err := d.client.StringValue(context.Background(), key, def, ec)
		if err != nil || !flags.Valid(f, v) {
			v = def
		}
		modes = append(modes, v)
	}
	return flags.Strictest(f, modes...)
}
