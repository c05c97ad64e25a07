package driver

import (
	"database/sql"
	"errors"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

func TestDSNKeys(t *testing.T) {
	tests := []struct {
		dsn          string
		wantErr      string // substring; "" means valid
		wantSetting  string
		wantScope    Scope
		wantRequired bool
		wantPooler   Pooler
	}{
		{dsn: "postgres://app@localhost/db", wantSetting: "app.tenant_id"},
		{dsn: "postgres://app@localhost/db?tenant_scope=session&tenant_required=true&tenant_setting=myapp.org",
			wantSetting: "myapp.org", wantScope: ScopeSession, wantRequired: true},
		{dsn: "host=localhost user=app tenant_scope=transaction tenant_setting=App.Tenant", wantSetting: "app.tenant"},
		{dsn: "host=localhost user=app tenant_required = '1'", wantSetting: "app.tenant_id", wantRequired: true},
		{dsn: "postgres://app@localhost/db?tenant_pooler=transaction", wantSetting: "app.tenant_id", wantPooler: PoolerTransaction},
		{dsn: "host=localhost tenant_pooler=None", wantSetting: "app.tenant_id"},
		{dsn: "postgres://localhost/db?tenant_pooler=session", wantErr: "tenant_pooler: must be none or transaction"},
		{dsn: "postgres://localhost/db?tenant_pooler=transaction&tenant_scope=session", wantErr: "requires tenant_scope=transaction"},
		{dsn: "postgres://localhost/db?tenant_pooler=transaction&tenant_clear_objects=true", wantErr: "cannot clear session objects"},
		{dsn: "postgres://app@localhost/db?tenant_gaurd=enforce", wantErr: `unknown DSN key "tenant_gaurd"`},
		{dsn: "postgres://app@localhost/db?tenant_guard=strict", wantErr: "tenant_guard: must be off, audit or enforce"},
		{dsn: "postgres://app@localhost/db?tenant_column=Tenant-ID", wantErr: "not a lower-case column name"},
		{dsn: "postgres://app@localhost/db?tenant_tables=,", wantErr: "tenant_tables: must name at least one table"},
		{dsn: "host=localhost tenant_scopes=session", wantErr: `unknown DSN key "tenant_scopes"`},
		{dsn: "postgres://localhost/db?tenant_scope=global", wantErr: "tenant_scope: must be transaction or session"},
		{dsn: "postgres://localhost/db?tenant_required=maybe", wantErr: "tenant_required: must be true or false"},
		{dsn: "postgres://localhost/db?tenant_setting=tenant", wantErr: "not a custom setting name"},
		{dsn: "postgres://localhost/db?tenant_setting=app.x%27;drop", wantErr: "not a custom setting name"},
		{dsn: "postgres://localhost/db?tenant_setting=search_path", wantErr: "not a custom setting name"},
		{dsn: "postgres://localhost/db?app.tenant_id=acme", wantErr: "driver owns that setting"},
		{dsn: "postgres://localhost/db?options=-c%20app.tenant_id%3Dacme", wantErr: "driver owns that setting"},
		{dsn: "postgres://localhost/db?tenant_setting=my.org&my.org=acme", wantErr: "driver owns that setting"},
	}
	for _, tt := range tests {
		t.Run(tt.dsn, func(t *testing.T) {
			c, err := (&Driver{}).OpenConnector(tt.dsn)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				if !strings.HasPrefix(err.Error(), "pgx-tenant: ") {
					t.Fatalf("error %q lacks the package prefix", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			cc := c.(*Connector)
			if cc.cfg.setting != tt.wantSetting || cc.cfg.scope != tt.wantScope || cc.cfg.required != tt.wantRequired || cc.cfg.pooler != tt.wantPooler {
				t.Fatalf("config = %+v", cc.cfg)
			}
		})
	}
}

// TestPoolerOptions checks the option form of tenant_pooler, the
// combinations it refuses whichever way they are given, and what it makes
// of pgx's configuration: no statement cache, and cache_statement mode run
// as cache_describe (exec without a description cache).
func TestPoolerOptions(t *testing.T) {
	base, err := pgx.ParseConfig("postgres://app@localhost/db")
	if err != nil {
		t.Fatal(err)
	}
	refused := []struct {
		name string
		dsn  string
		opts []Option
		want string
	}{
		{"session scope by option", "postgres://app@localhost/db?tenant_pooler=transaction", []Option{WithScope(ScopeSession)}, "requires tenant_scope=transaction"},
		{"pooler by option, session by DSN", "postgres://app@localhost/db?tenant_scope=session", []Option{WithPooler(PoolerTransaction)}, "requires tenant_scope=transaction"},
		{"clear objects by option", "postgres://app@localhost/db", []Option{WithPooler(PoolerTransaction), WithClearObjects(true)}, "cannot clear session objects"},
		{"unknown pooler", "postgres://app@localhost/db", []Option{WithPooler(Pooler(7))}, "unknown pooler Pooler(7)"},
	}
	for _, tt := range refused {
		cfg, err := pgx.ParseConfig(tt.dsn)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := NewConnector(*cfg, tt.opts...); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err = %v, want %q", tt.name, err, tt.want)
		}
	}
	c, err := NewConnector(*base, WithPooler(PoolerTransaction))
	if err != nil {
		t.Fatal(err)
	}
	if c.Pooler() != PoolerTransaction || c.Pooler().String() != "transaction" || PoolerNone.String() != "none" {
		t.Fatalf("Pooler() = %v", c.Pooler())
	}

	mapped := []struct {
		mode, descCache string
		want            pgx.QueryExecMode
	}{
		{"cache_statement", "", pgx.QueryExecModeCacheDescribe},
		{"cache_statement", "0", pgx.QueryExecModeExec},
		{"cache_describe", "", pgx.QueryExecModeCacheDescribe},
		{"cache_describe", "0", pgx.QueryExecModeExec},
		{"exec", "", pgx.QueryExecModeExec},
		{"describe_exec", "", pgx.QueryExecModeDescribeExec},
		{"simple_protocol", "", pgx.QueryExecModeSimpleProtocol},
	}
	for _, m := range mapped {
		dsn := "postgres://app@localhost/db?default_query_exec_mode=" + m.mode
		if m.descCache != "" {
			dsn += "&description_cache_capacity=" + m.descCache
		}
		cfg, err := pgx.ParseConfig(dsn)
		if err != nil {
			t.Fatal(err)
		}
		unnamedOnly(cfg)
		if cfg.DefaultQueryExecMode != m.want || cfg.StatementCacheCapacity != 0 {
			t.Errorf("%s (description cache %q): mode %v, statement cache %d; want %v and 0",
				m.mode, m.descCache, cfg.DefaultQueryExecMode, cfg.StatementCacheCapacity, m.want)
		}
	}
}

func TestSQLOpenReportsDSNErrors(t *testing.T) {
	_, err := sql.Open(DriverName, "postgres://localhost/db?tenant_mode=strict")
	if err == nil || !strings.Contains(err.Error(), "tenant_mode") {
		t.Fatalf("sql.Open err = %v, want the unknown key named", err)
	}
}

func TestNewConnectorStripsKeysAndKeepsCallerConfig(t *testing.T) {
	cfg, err := pgx.ParseConfig("postgres://localhost/db?tenant_scope=session&application_name=x")
	if err != nil {
		t.Fatal(err)
	}
	c, err := NewConnector(*cfg, WithRequired(true))
	if err != nil {
		t.Fatal(err)
	}
	if c.Scope() != ScopeSession || !c.cfg.required || c.Setting() != DefaultSetting {
		t.Fatalf("config = %+v", c.cfg)
	}
	if _, ok := cfg.RuntimeParams["tenant_scope"]; !ok {
		t.Fatal("NewConnector modified the caller's RuntimeParams")
	}
	// Options win over DSN keys.
	c, err = NewConnector(*cfg, WithScope(ScopeTransaction))
	if err != nil || c.Scope() != ScopeTransaction {
		t.Fatalf("option did not override DSN: %v %v", c, err)
	}
	if _, err := NewConnector(*cfg, WithSetting("nodot")); err == nil {
		t.Fatal("invalid WithSetting accepted")
	}
	if _, err := NewConnector(*cfg, WithScope(Scope(9))); err == nil {
		t.Fatal("invalid WithScope accepted")
	}
	if _, err := NewConnector(*cfg, WithStatementCacheSize(0)); err == nil {
		t.Fatal("zero cache size accepted")
	}
}

func TestMalformedDSN(t *testing.T) {
	_, err := (&Driver{}).OpenConnector("postgres://user:secret@localhost:notaport/db")
	if err == nil || !strings.HasPrefix(err.Error(), "pgx-tenant: ") {
		t.Fatalf("err = %v", err)
	}
	if strings.Contains(err.Error(), "secret") {
		t.Fatalf("error leaks the password: %v", err)
	}
	if errors.Is(err, ErrNoTenant) {
		t.Fatal("wrong sentinel")
	}
}
