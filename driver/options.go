package driver

import (
	"context"
	"fmt"
	"log/slog"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/stdlib"

	"github.com/pgx-tenant/pgx-tenant/event"
	"github.com/pgx-tenant/pgx-tenant/flags"
	"github.com/pgx-tenant/pgx-tenant/guard"
	"github.com/pgx-tenant/pgx-tenant/rewrite"
)

// Scope says how long the tenant setting lives on the server.
type Scope int

const (
	// ScopeTransaction binds the tenant transaction-locally
	// (set_config(name, id, true)): every autocommit statement runs in its
	// own transaction with the setting, and an explicit transaction gets it
	// right after BEGIN. Nothing outlives the transaction, so it is safe
	// behind transaction-pooling PgBouncer. This is the default.
	ScopeTransaction Scope = iota

	// ScopeSession binds the tenant at session level and remembers, per
	// connection, which tenant the server holds, so a statement for the same
	// tenant as the previous one costs nothing extra. Use it only with direct
	// connections (no transaction-pooling PgBouncer in between), where the
	// server session belongs to this connection alone.
	ScopeSession
)

func (s Scope) String() string {
	switch s {
	case ScopeTransaction:
		return "transaction"
	case ScopeSession:
		return "session"
	}
	return "Scope(" + strconv.Itoa(int(s)) + ")"
}

// DefaultSetting is the PostgreSQL setting the tenant is bound to unless
// WithSetting or tenant_setting says otherwise.
const DefaultSetting = "app.tenant_id"

// Option configures a Connector. Options are applied after the tenant_* keys
// found in the connection config, so an Option wins over the DSN.
type Option func(*config)

// WithSetting sets the PostgreSQL setting that receives the tenant ID
// (default [DefaultSetting]). It must be a custom setting name: two or more
// dot-separated identifiers, such as "app.tenant_id".
func WithSetting(name string) Option { return func(c *config) { c.setting = name } }

// WithScope sets the binding scope (default [ScopeTransaction]).
func WithScope(s Scope) Option { return func(c *config) { c.scope = s } }

// WithRequired makes a statement or transaction whose context carries no
// tenant fail with [ErrNoTenant] (default false: it runs with the setting
// cleared, so Row-Level-Security policies see no tenant and match nothing).
func WithRequired(required bool) Option { return func(c *config) { c.required = required } }

// WithStdlibOptions passes options to the pgx stdlib connector the driver
// wraps (for example stdlib.OptionAfterConnect). Default: none.
func WithStdlibOptions(opts ...stdlib.OptionOpenDB) Option {
	return func(c *config) { c.stdlib = append(c.stdlib, opts...) }
}

// WithStatementCacheSize sets how many distinct SQL texts the driver keeps
// the parse result of (default 4096). Texts over 64 KiB are never cached.
func WithStatementCacheSize(n int) Option { return func(c *config) { c.cacheSize = n } }

// WithClearObjects makes the driver clear a connection's session objects
// (temporary tables, cursors, LISTEN registrations, session advisory locks,
// SQL-prepared statements) whenever the connection's tenant changes, so one
// tenant's leftovers never meet the next tenant's statements (default
// false: they survive on the pooled connection). The clearing travels in the
// same write as the binding; it costs server work on each tenant change.
func WithClearObjects(clear bool) Option { return func(c *config) { c.clearObjects = clear } }

// Pooler says what sits between the driver and PostgreSQL.
type Pooler int

const (
	// PoolerNone: the driver talks to PostgreSQL, or to a pooler that keeps
	// one server session per client connection (PgBouncer in session mode).
	// Prepared statements live on the server, one per SQL text per
	// connection.
	PoolerNone Pooler = iota
	// PoolerTransaction: a transaction pooler (PgBouncer, Supavisor, pgcat,
	// RDS Proxy in transaction mode) may hand each transaction to another
	// server session, so nothing named may outlive a transaction, and no
	// statement may rely on what the session's unnamed statement holds.
	// Required behind every such pooler, also one that carries named
	// prepared statements (PgBouncer 1.21+). Every
	// statement, database/sql Stmts included, runs as an unnamed statement
	// in the same round trip as its binding; pgx's cache_statement mode runs
	// as cache_describe (descriptions cached on the client). It requires
	// ScopeTransaction and no WithClearObjects: session state is the
	// pooler's, not the driver's.
	PoolerTransaction
)

func (p Pooler) String() string {
	switch p {
	case PoolerNone:
		return "none"
	case PoolerTransaction:
		return "transaction"
	}
	return "Pooler(" + strconv.Itoa(int(p)) + ")"
}

// WithPooler says what sits between the driver and PostgreSQL (default
// [PoolerNone]; DSN key tenant_pooler=none|transaction).
func WithPooler(p Pooler) Option { return func(c *config) { c.pooler = p } }

// WithGuard sets the guard's mode (default guard.Off; DSN key
// tenant_guard=off|audit|enforce): with Audit every statement is checked
// and an unscoped one runs and is reported as an event; with Enforce it is
// refused with a *guard.Violation before anything is sent.
func WithGuard(m guard.Mode) Option { return func(c *config) { c.guard = m } }

// WithRewrite sets the rewrite's mode (default rewrite.Off; DSN key
// tenant_rewrite=off|audit|on): with On, a statement that reads or writes a
// tenant-owned table without a tenant predicate runs with one added (see
// package rewrite); with Audit it runs as written and an event carries the
// rewritten SQL.
func WithRewrite(m rewrite.Mode) Option { return func(c *config) { c.rewrite = m } }

// WithDecisionTimer has the driver report how long each guard decision
// took (the metrics package records them in a histogram).
func WithDecisionTimer(f func(context.Context, time.Duration)) Option {
	return func(c *config) { c.decisionTimer = f }
}

// WithFlags makes the guard's, the rewrite's and the tenant requirement's
// modes per statement come from f (rollout rules per table and tenant: a
// *flags.Flags, or an adapter to a flag service such as package
// pgx-tenant/openfeature). f's answer is the whole answer: its defaults
// (flags.New's Defaults) apply where no rule does and under its kill
// switch, not the DSN's modes — build it with the defaults you want. The
// caller applies and watches f's rules (flags.Flags.LoadFile, Watch). DSN
// key tenant_flags=<path> instead has the connector build the rules with
// the DSN's modes as defaults, read the file and follow it until the
// connector (the *sql.DB) is closed; the two cannot be combined. A nil f
// (a nil *flags.Flags too) is none.
func WithFlags(f flags.Decider) Option {
	return func(c *config) {
		if f == nil || reflect.ValueOf(f).Kind() == reflect.Pointer && reflect.ValueOf(f).IsNil() {
			c.flags = nil
			return
		}
		c.flags = f
	}
}

// WithTenantColumn sets the tenant column of tenant-owned tables (default
// tenant_id; DSN key tenant_column).
func WithTenantColumn(name string) Option { return func(c *config) { c.column = name } }

// WithTenantTables makes exactly these relations tenant-owned, instead of
// every relation the catalog shows with the tenant column (DSN key
// tenant_tables, a comma list). Names are "schema.name" or resolved
// through the search_path.
func WithTenantTables(names ...string) Option {
	return func(c *config) { c.tables = append(c.tables, names...) }
}

// WithExcludedTables removes relations from the tenant-owned ones (global
// tables that happen to have the tenant column).
func WithExcludedTables(names ...string) Option {
	return func(c *config) { c.exclude = append(c.exclude, names...) }
}

// WithEventHandler sets where events go (guard violations and bypasses,
// tenant mismatches, missing tenants, tamper attempts, RLS refusals;
// default: logged through the WithLogger logger).
func WithEventHandler(h event.Handler) Option { return func(c *config) { c.events = h } }

// WithLogger sets where the driver logs (default slog.Default(); nil logs
// nothing). Today it
// logs one warning per Connector when the connected role bypasses
// row-level security (superuser, BYPASSRLS, or owner of tables whose RLS is
// not forced).
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.logger = l } }

type config struct {
	logger  *slog.Logger
	events  event.Handler
	guard   guard.Mode
	rewrite rewrite.Mode
	flags   flags.Decider
	// decisionTimer receives each guard decision's duration.
	decisionTimer func(context.Context, time.Duration)
	flagsPath     string
	column        string
	tables        []string
	exclude       []string
	setting       string
	scope         Scope
	pooler        Pooler
	required      bool
	clearObjects  bool
	cacheSize     int
	stdlib        []stdlib.OptionOpenDB
}

func defaultConfig() config {
	return config{setting: DefaultSetting, scope: ScopeTransaction, cacheSize: 4096, logger: slog.Default(), column: DefaultColumn}
}

// dsnPrefix marks the driver's own keys in a DSN.
const dsnPrefix = "tenant_"

// dsnKeys are the keys this release understands; any other tenant_* key is
// an error, so a typo (or a key from a newer release) never silently weakens
// isolation.
var dsnKeys = map[string]func(*config, string) error{
	"tenant_setting": func(c *config, v string) error { c.setting = v; return nil },
	"tenant_scope": func(c *config, v string) error {
		switch strings.ToLower(v) {
		case "transaction":
			c.scope = ScopeTransaction
		case "session":
			c.scope = ScopeSession
		default:
			return fmt.Errorf("must be transaction or session, not %q", v)
		}
		return nil
	},
	"tenant_guard": func(c *config, v string) error {
		m, err := guard.ParseMode(v)
		c.guard = m
		return err
	},
	"tenant_rewrite": func(c *config, v string) error {
		m, err := rewrite.ParseMode(v)
		c.rewrite = m
		return err
	},
	"tenant_flags": func(c *config, v string) error {
		if v == "" {
			return fmt.Errorf("must name a flag file")
		}
		c.flagsPath = v
		return nil
	},
	"tenant_column": func(c *config, v string) error { c.column = v; return nil },
	"tenant_tables": func(c *config, v string) error {
		for _, t := range strings.Split(v, ",") {
			if t = strings.TrimSpace(t); t != "" {
				c.tables = append(c.tables, t)
			}
		}
		if len(c.tables) == 0 {
			return fmt.Errorf("must name at least one table")
		}
		return nil
	},
	"tenant_pooler": func(c *config, v string) error {
		switch strings.ToLower(v) {
		case "none":
			c.pooler = PoolerNone
		case "transaction":
			c.pooler = PoolerTransaction
		default:
			return fmt.Errorf("must be none or transaction, not %q", v)
		}
		return nil
	},
	"tenant_clear_objects": func(c *config, v string) error {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("must be true or false, not %q", v)
		}
		c.clearObjects = b
		return nil
	},
	"tenant_required": func(c *config, v string) error {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("must be true or false, not %q", v)
		}
		c.required = b
		return nil
	},
}

// takeDSNKeys applies and removes the tenant_* keys from params (pgx puts
// every key it does not know into RuntimeParams, which would otherwise be
// sent to the server as startup parameters).
func (c *config) takeDSNKeys(params map[string]string) error {
	keys := make([]string, 0, len(params))
	for k := range params {
		if strings.HasPrefix(strings.ToLower(k), dsnPrefix) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys) // deterministic: the first bad key is always the same one
	for _, k := range keys {
		apply, ok := dsnKeys[strings.ToLower(k)]
		if !ok {
			known := make([]string, 0, len(dsnKeys))
			for name := range dsnKeys {
				known = append(known, name)
			}
			sort.Strings(known)
			return fmt.Errorf("pgx-tenant: unknown DSN key %q (known: %s)", k, strings.Join(known, ", "))
		}
		if err := apply(c, params[k]); err != nil {
			return fmt.Errorf("pgx-tenant: DSN key %s: %w", k, err)
		}
		delete(params, k)
	}
	return nil
}

// pinnedParams are sent as startup parameters on every connection. A
// startup parameter overrides ALTER ROLE / ALTER DATABASE defaults, and SQL
// that would change them later is refused as tampering: with
// standard_conforming_strings off the server reads backslashes in string
// literals differently from the parser (a statement can hide inside what
// the parser takes for a string), and another client_encoding re-decodes
// the bytes of every text parameter, tenant IDs included.
var pinnedParams = map[string]string{
	"standard_conforming_strings": "on",
	"client_encoding":             "UTF8",
}

// textParams are the startup parameters a config may only set to these
// values. backslash_quote is not pinned (PgBouncer refuses it as a startup
// parameter, and with UTF8 and standard_conforming_strings on its values
// only decide whether the server accepts a backslash-escaped quote in an
// escape string — a syntax error if not, never a second statement), but a
// config may not ask for another value.
var textParams = map[string]string{
	"standard_conforming_strings": "on",
	"client_encoding":             "UTF8",
	"backslash_quote":             "safe_encoding",
}

// pin writes pinnedParams into the startup parameters.
func pin(params map[string]string) {
	for k := range params {
		if _, ok := pinnedParams[strings.ToLower(k)]; ok {
			delete(params, k)
		}
	}
	for k, v := range pinnedParams {
		params[k] = v
	}
}

// DefaultColumn is the tenant column of tenant-owned tables unless
// WithTenantColumn or tenant_column says otherwise.
const DefaultColumn = "tenant_id"

var columnName = regexp.MustCompile(`^[a-z_][a-z0-9_$]*$`)

var gucName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_$]*(\.[A-Za-z_][A-Za-z0-9_$]*)+$`)

func (c *config) validate(params map[string]string) error {
	if !gucName.MatchString(c.setting) || len(c.setting) > 128 {
		return fmt.Errorf("pgx-tenant: tenant setting %q is not a custom setting name like app.tenant_id", c.setting)
	}
	c.setting = strings.ToLower(c.setting) // PostgreSQL setting names are case-insensitive
	if c.scope != ScopeTransaction && c.scope != ScopeSession {
		return fmt.Errorf("pgx-tenant: unknown scope %v", c.scope)
	}
	switch c.pooler {
	case PoolerNone:
	case PoolerTransaction:
		// Behind a transaction pooler the next statement may run on a
		// server session another client used last: a session-level
		// tenant, or the clearing of a session's objects, would describe
		// a session the driver no longer holds.
		if c.scope != ScopeTransaction {
			return fmt.Errorf("pgx-tenant: tenant_pooler=transaction requires tenant_scope=transaction: behind a transaction pooler a session-level tenant would stay on a server session other clients use next")
		}
		if c.clearObjects {
			return fmt.Errorf("pgx-tenant: tenant_pooler=transaction cannot clear session objects (tenant_clear_objects): the pooler, not the driver, decides which session a statement runs on")
		}
	default:
		return fmt.Errorf("pgx-tenant: unknown pooler %v", c.pooler)
	}
	if c.logger == nil {
		c.logger = slog.New(slog.DiscardHandler)
	}
	if c.events == nil {
		c.events = event.Slog(c.logger)
	}
	if c.guard < guard.Off || c.guard > guard.Enforce {
		return fmt.Errorf("pgx-tenant: unknown guard mode %v", c.guard)
	}
	if c.rewrite < rewrite.Off || c.rewrite > rewrite.On {
		return fmt.Errorf("pgx-tenant: unknown rewrite mode %v", c.rewrite)
	}
	if !columnName.MatchString(c.column) {
		return fmt.Errorf("pgx-tenant: tenant column %q is not a lower-case column name like tenant_id", c.column)
	}
	if c.cacheSize <= 0 {
		return fmt.Errorf("pgx-tenant: statement cache size must be positive, not %d", c.cacheSize)
	}
	// The driver owns the tenant setting: a startup parameter would give
	// every connection a tenant before any context said so. It also pins
	// the settings that decide how the server reads SQL text and
	// parameters (pinnedParams), so that the parser the checks rely on
	// and the server always read the same statements.
	for k, v := range params {
		if want, ok := textParams[strings.ToLower(k)]; ok && !strings.EqualFold(v, want) {
			return fmt.Errorf("pgx-tenant: the connection config sets %s=%s; the driver requires %s (it decides how the server reads SQL text)", k, v, want)
		}
		if strings.EqualFold(k, c.setting) {
			return fmt.Errorf("pgx-tenant: the connection config sets %s; the driver owns that setting", c.setting)
		}
		if strings.EqualFold(k, "options") && strings.Contains(strings.ToLower(v), c.setting) {
			return fmt.Errorf("pgx-tenant: the connection config's options set %s; the driver owns that setting", c.setting)
		}
	}
	return nil
}

// scoped reports whether statements get the scope analysis (and the
// connector a catalog of tenant-owned relations): the guard or the rewrite
// is on.
func (c *config) scoped() bool {
	return c.guard != guard.Off || c.rewrite != rewrite.Off || c.flags != nil
}
