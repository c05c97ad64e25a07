// Package flags decides, per statement, the mode of each pgx-tenant
// feature — the guard (off, audit, enforce), the rewrite (off, audit, on),
// the tenant requirement (off, on) — from rollout rules: a default per
// feature, per-table overrides, per-tenant overrides, a cohort of tenants
// (listed, or a stable percentage of all tenants) and a kill switch back
// to the DSN's defaults. Rules are held in an immutable snapshot behind an
// atomic pointer: replacing them (Set, a watched file) never shows a
// statement half of the old rules and half of the new.
//
// The most specific rule wins: a tenant's own mode, then the cohort's (for
// tenants in it), then the table's, then the feature's default. A
// statement that touches several tables takes the strictest of their
// modes. A flag file (JSON, see Config) is read with ParseFile, applied
// with LoadFile and followed with Watch.
//
// The driver reads the rules with DSN key tenant_flags=<file> (followed
// while the *sql.DB is open) or driver.WithFlags: each statement's guard
// and rewrite modes are then the strictest the rules give the tenant-owned
// relations it names, for its tenant; the DSN's modes are the defaults and
// what the kill switch returns to. Required on refuses a statement without
// a tenant (driver.ErrNoTenant) before anything is sent; it can only add to
// the DSN's tenant_required, never lift it.
package flags

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"os"
	"sort"
	"strings"
	"sync/atomic"
)

// Feature is a switchable part of the driver.
type Feature string

const (
	// Guard: off, audit, enforce (tenant_guard).
	Guard Feature = "guard"
	// Rewrite: off, audit, on (tenant_rewrite).
	Rewrite Feature = "rewrite"
	// Required: off, on (tenant_required).
	Required Feature = "required"
)

// levels orders each feature's modes from the least to the most strict.
var levels = map[Feature][]string{
	Guard:    {"off", "audit", "enforce"},
	Rewrite:  {"off", "audit", "on"},
	Required: {"off", "on"},
}

// Features lists the features in a stable order.
var Features = []Feature{Guard, Rewrite, Required}

// Strictest returns the strictest of modes for feature f, ignoring modes f
// does not have; "off" when none is valid.
func Strictest(f Feature, modes ...string) string {
	best := 0
	for _, m := range modes {
		if l := level(f, m); l > best {
			best = l
		}
	}
	return levels[f][best]
}

// Valid reports whether mode is one of feature f's modes.
func Valid(f Feature, mode string) bool { return level(f, mode) >= 0 }

// level returns the rank of mode for f, or -1 when f has no such mode.
func level(f Feature, mode string) int {
	for i, m := range levels[f] {
		if m == mode {
			return i
		}
	}
	return -1
}

// Rules are one feature's rollout rules, as the flag file writes them.
type Rules struct {
	// Default is the mode of every table and tenant no other rule names
	// ("" keeps the DSN's).
	Default string `json:"default,omitempty"`
	// Tables override the default per table, named schema-qualified
	// ("audit.log"; "public." may be left out). A view has its own rule:
	// name it; a rule on a table does not reach the views over it.
	Tables map[string]string `json:"tables,omitempty"`
	// Tenants override everything else per tenant.
	Tenants map[string]string `json:"tenants,omitempty"`
	// Cohort is the mode of the tenants in the rollout cohort: those in
	// Allow, and the Percent (0–100) of all tenants chosen by a stable
	// hash of the tenant ID; Deny keeps tenants out of it.
	Cohort  string   `json:"cohort,omitempty"`
	Allow   []string `json:"allow,omitempty"`
	Deny    []string `json:"deny,omitempty"`
	Percent float64  `json:"percent,omitempty"`
}

// Config is the whole flag file.
type Config struct {
	Guard    *Rules `json:"guard,omitempty"`
	Rewrite  *Rules `json:"rewrite,omitempty"`
	Required *Rules `json:"required,omitempty"`
	// KillSwitch drops every rule: each feature runs at its DSN default.
	KillSwitch bool `json:"kill_switch,omitempty"`
}

func (c *Config) rules(f Feature) *Rules {
	switch f {
	case Guard:
		return c.Guard
	case Rewrite:
		return c.Rewrite
	case Required:
		return c.Required
	}
	return nil
}

// Validate reports the first mode or percentage the config gets wrong.
func (c *Config) Validate() error {
	for _, f := range Features {
		r := c.rules(f)
		if r == nil {
			continue
		}
		check := func(where, mode string) error {
			if mode != "" && level(f, mode) < 0 {
				return fmt.Errorf("flags: %s %s: mode %q is not one of %s", f, where, mode, strings.Join(levels[f], ", "))
			}
			return nil
		}
		if err := check("default", r.Default); err != nil {
			return err
		}
		if err := check("cohort", r.Cohort); err != nil {
			return err
		}
		for _, m := range []map[string]string{r.Tables, r.Tenants} {
			keys := make([]string, 0, len(m))
			for k := range m {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				if k == "" {
					return fmt.Errorf("flags: %s: an empty table or tenant name", f)
				}
				if m[k] == "" {
					return fmt.Errorf("flags: %s %q: no mode", f, k)
				}
				if err := check(fmt.Sprintf("%q", k), m[k]); err != nil {
					return err
				}
			}
		}
		if r.Percent < 0 || r.Percent > 100 {
			return fmt.Errorf("flags: %s percent %v is not between 0 and 100", f, r.Percent)
		}
		if (r.Percent > 0 || len(r.Allow) > 0) && r.Cohort == "" {
			return fmt.Errorf("flags: %s: a cohort (allow or percent) needs its mode (cohort)", f)
		}
	}
	return nil
}

// Parse reads a flag file's JSON; unknown keys are an error (a typo must
// not silently keep a table at a weaker mode).
func Parse(data []byte) (*Config, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var c Config
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("flags: %w", err)
	}
	if dec.More() {
		return nil, errors.New("flags: more than one JSON value")
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &c, nil
}

// ParseFile is Parse of the file at path.
func ParseFile(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("flags: %w", err)
	}
	c, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// Defaults are the modes the DSN (or the options) set: what a feature
// runs at when no rule names it, and under the kill switch.
type Defaults map[Feature]string

// snapshot is a compiled Config: immutable once built.
type snapshot struct {
	kill     bool
	defaults [3]int
	features [3]compiled
}

type compiled struct {
	set     bool
	def     int
	tables  map[string]int
	tenants map[string]int
	cohort  int
	allow   map[string]bool
	deny    map[string]bool
	// percent in hundredths of a percent (0–10000), compared with a
	// tenant's bucket.
	percent uint32
}

func index(f Feature) int {
	switch f {
	case Guard:
		return 0
	case Rewrite:
		return 1
	case Required:
		return 2
	}
	return -1 // Mode of an unknown feature panics, as it did
}

func compile(c *Config, d Defaults) (*snapshot, error) {
	s := &snapshot{kill: c != nil && c.KillSwitch}
	for _, f := range Features {
		def := d[f]
		if def == "" {
			def = "off"
		}
		l := level(f, def)
		if l < 0 {
			return nil, fmt.Errorf("flags: default %s mode %q is not one of %s", f, def, strings.Join(levels[f], ", "))
		}
		s.defaults[index(f)] = l
	}
	if c == nil {
		return s, nil
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	for _, f := range Features {
		r := c.rules(f)
		if r == nil {
			continue
		}
		cf := compiled{set: true, def: -1, cohort: -1, percent: uint32(r.Percent*100 + 0.5)}
		if r.Default != "" {
			cf.def = level(f, r.Default)
		}
		if r.Cohort != "" {
			cf.cohort = level(f, r.Cohort)
		}
		cf.tables = compileModes(f, r.Tables)
		cf.tenants = compileModes(f, r.Tenants)
		cf.allow = set(r.Allow)
		cf.deny = set(r.Deny)
		s.features[index(f)] = cf
	}
	return s, nil
}

func compileModes(f Feature, m map[string]string) map[string]int {
	if len(m) == 0 {
		return nil
	}
	out := make(map[string]int, len(m))
	for k, v := range m {
		out[TableKey(k)] = level(f, v)
	}
	return out
}

func set(l []string) map[string]bool {
	if len(l) == 0 {
		return nil
	}
	m := make(map[string]bool, len(l))
	for _, s := range l {
		m[s] = true
	}
	return m
}

// TableKey is how rules name a table: as the guard names it, lower case,
// schema-qualified except in public ("invoices", "public.invoices" and
// " Invoices" are one table; "audit.log" is not "log").
func TableKey(name string) string {
	name = strings.ToLower(strings.TrimSpace(name))
	return strings.TrimPrefix(name, "public.")
}

// Bucket is where a tenant falls in a percentage rollout: 0–9999, from a
// stable hash of its ID (FNV-1a), the same in every process and release.
func Bucket(tenant string) uint32 {
	h := fnv.New32a()
	h.Write([]byte(tenant))
	return h.Sum32() % 10000
}

// tenantMode is the mode a tenant rule or the cohort gives tenant,
// whatever the table; ok is false when none does.
func (c *compiled) tenantMode(tenant string) (int, bool) {
	if m, ok := c.tenants[tenant]; ok {
		return m, true
	}
	if c.cohort >= 0 && !c.deny[tenant] && (c.allow[tenant] || c.percent > 0 && Bucket(tenant) < c.percent) {
		return c.cohort, true
	}
	return 0, false
}

// tableMode is the mode of one table: its rule, else the default.
func (c *compiled) tableMode(table string, dsn int) int {
	if table != "" {
		if m, ok := c.tables[table]; ok {
			return m
		}
	}
	if c.def >= 0 {
		return c.def
	}
	return dsn
}

// Flags holds the current rules. The zero value is not usable: call New.
type Flags struct {
	defaults Defaults
	cur      atomic.Pointer[snapshot]
}

// New returns Flags at the given defaults, with no rules yet.
func New(d Defaults) (*Flags, error) {
	s, err := compile(nil, d)
	if err != nil {
		return nil, err
	}
	f := &Flags{defaults: d}
	f.cur.Store(s)
	return f, nil
}

// Set replaces the rules at once (nil: none). A config that does not
// validate is refused and the rules in place stay.
func (f *Flags) Set(c *Config) error {
	s, err := compile(c, f.defaults)
	if err != nil {
		return err
	}
	f.cur.Store(s)
	return nil
}

// Decider decides a statement's modes: *Flags from its rules, or an
// adapter to a flag service (package pgx-tenant/openfeature). The driver
// takes one with driver.WithFlags. Decide must be safe for concurrent use
// and quick: it runs for every statement.
type Decider interface {
	Decide(tenant string, tables ...string) Decision
}

var _ Decider = (*Flags)(nil)

// Decision is a statement's modes, decided from one snapshot.
type Decision struct {
	Guard, Rewrite, Required string
}

// Decide returns the modes of a statement of tenant touching tables (as
// the guard names them): per feature, the strictest among the tables, all
// from the same snapshot.
func (f *Flags) Decide(tenant string, tables ...string) Decision {
	s := f.cur.Load()
	return Decision{
		Guard:    s.mode(Guard, tenant, tables),
		Rewrite:  s.mode(Rewrite, tenant, tables),
		Required: s.mode(Required, tenant, tables),
	}
}

// Mode is Decide for one feature.
func (f *Flags) Mode(feature Feature, tenant string, tables ...string) string {
	return f.cur.Load().mode(feature, tenant, tables)
}

// names are each feature's modes by index, so that a decision reads no map.
var names = [3][]string{levels[Guard], levels[Rewrite], levels[Required]}

func (s *snapshot) mode(f Feature, tenant string, tables []string) string {
	i := index(f)
	c := &s.features[i]
	if s.kill || !c.set {
		return names[i][s.defaults[i]]
	}
	if m, ok := c.tenantMode(tenant); ok {
		return names[i][m] // the most specific rule: every table alike
	}
	if len(tables) == 0 || len(c.tables) == 0 {
		return names[i][c.tableMode("", s.defaults[i])] // every table alike: no name to fold
	}
	best := -1
	for _, t := range tables {
		if m := c.tableMode(TableKey(t), s.defaults[i]); m > best {
			best = m
		}
	}
	return names[i][best]
}
