package flags

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// issueExample is the shape the issue's flag file must accept.
const issueExample = `{"guard": {"default": "audit", "tables": {"invoices": "enforce"}, "tenants": {"t09": "off"}},
 "rewrite": {"default": "off"}, "kill_switch": false}`

func mustFlags(t testing.TB, d Defaults, file string) *Flags {
	t.Helper()
	f, err := New(d)
	if err != nil {
		t.Fatal(err)
	}
	if file != "" {
		c, err := Parse([]byte(file))
		if err != nil {
			t.Fatal(err)
		}
		if err := f.Set(c); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

func TestRules(t *testing.T) {
	dsn := Defaults{Guard: "off", Rewrite: "audit", Required: "on"}
	cohort := `{"guard": {"default": "audit", "cohort": "enforce", "allow": ["t05"], "deny": ["t06"],
	  "tables": {"audit.log": "off"}, "tenants": {"t07": "off"}}}`
	for _, c := range []struct {
		name, file, tenant string
		tables             []string
		want               Decision
	}{
		{"no rules: the DSN", "", "t01", []string{"invoices"}, Decision{"off", "audit", "on"}},
		{"default", issueExample, "t01", []string{"customers"}, Decision{"audit", "off", "on"}},
		{"table over default", issueExample, "t01", []string{"invoices"}, Decision{"enforce", "off", "on"}},
		{"tenant over table", issueExample, "t09", []string{"invoices"}, Decision{"off", "off", "on"}},
		{"strictest table wins", issueExample, "t01", []string{"customers", "invoices"}, Decision{"enforce", "off", "on"}},
		{"no table", issueExample, "t01", nil, Decision{"audit", "off", "on"}},
		{"table names fold case", issueExample, "t01", []string{"INVOICES"}, Decision{"enforce", "off", "on"}},
		{"kill switch: the DSN", strings.Replace(issueExample, `"kill_switch": false`, `"kill_switch": true`, 1), "t01", []string{"invoices"}, Decision{"off", "audit", "on"}},
		{"feature without rules keeps the DSN", `{"rewrite": {"default": "on"}}`, "t01", []string{"invoices"}, Decision{"off", "on", "on"}},
		{"allowed tenant in the cohort", cohort, "t05", []string{"audit.log"}, Decision{"enforce", "audit", "on"}},
		{"cohort over table", cohort, "t05", []string{"customers"}, Decision{"enforce", "audit", "on"}},
		{"denied tenant not in the cohort", cohort, "t06", []string{"customers"}, Decision{"audit", "audit", "on"}},
		{"tenant over cohort", cohort, "t07", []string{"customers"}, Decision{"off", "audit", "on"}},
		{"outside the cohort", cohort, "t08", []string{"audit.log"}, Decision{"off", "audit", "on"}},
		{"public. left out of a rule", `{"guard": {"tables": {"public.invoices": "enforce", " Customers ": "audit"}}}`, "t01", []string{"invoices"}, Decision{"enforce", "audit", "on"}},
		{"rule names trimmed and folded", `{"guard": {"tables": {" Customers ": "audit"}}}`, "t01", []string{"customers"}, Decision{"audit", "audit", "on"}},
		{"deny beats allow and percent", `{"guard": {"cohort": "enforce", "percent": 100, "allow": ["t06"], "deny": ["t06"]}}`, "t06", []string{"customers"}, Decision{"off", "audit", "on"}},
		{"required off for a tenant", `{"required": {"tenants": {"admin": "off"}}}`, "admin", nil, Decision{"off", "audit", "off"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := mustFlags(t, dsn, c.file)
			if got := f.Decide(c.tenant, c.tables...); got != c.want {
				t.Fatalf("Decide(%q, %v) = %+v, want %+v", c.tenant, c.tables, got, c.want)
			}
			if got := f.Mode(Guard, c.tenant, c.tables...); got != c.want.Guard {
				t.Fatalf("Mode(guard) = %s, want %s", got, c.want.Guard)
			}
		})
	}
}

func TestBadConfig(t *testing.T) {
	for _, file := range []string{
		`{"guard": {"default": "enforced"}}`,
		`{"rewrite": {"default": "enforce"}}`,
		`{"guard": {"tables": {"invoices": "strict"}}}`,
		`{"guard": {"tenants": {"t01": ""}}}`,
		`{"guard": {"percent": 120, "cohort": "audit"}}`,
		`{"guard": {"percent": 10}}`,
		`{"gaurd": {"default": "audit"}}`,
		`{"guard": {"default": "audit", "tabels": {}}}`,
		`{"guard": {"default": "audit"}} {}`,
		`not json`,
	} {
		if _, err := Parse([]byte(file)); err == nil {
			t.Errorf("accepted %s", file)
		}
	}
	if _, err := New(Defaults{Guard: "strict"}); err == nil {
		t.Error("accepted a bad default")
	}
	// Set validates a Config built in code too, and keeps the rules in place.
	f := mustFlags(t, nil, `{"guard": {"default": "audit"}}`)
	if err := f.Set(&Config{Guard: &Rules{Default: "strict"}}); err == nil {
		t.Error("Set accepted an unknown mode")
	}
	if got := f.Mode(Guard, "t01", "invoices"); got != "audit" {
		t.Errorf("after a refused Set guard is %s, want the previous audit", got)
	}
}

// TestPercentStable: a tenant's bucket is fixed (the same value in every
// release: these are FNV-1a), a percentage picks about that share, and a
// larger percentage keeps every tenant a smaller one picked.
func TestPercentStable(t *testing.T) {
	for tenant, want := range map[string]uint32{"t01": 3288, "acme": 7615, "": 6261} {
		if got := Bucket(tenant); got != want {
			t.Errorf("Bucket(%q) = %d, want %d", tenant, got, want)
		}
	}
	picked := func(p float64) map[string]bool {
		f := mustFlags(t, nil, fmt.Sprintf(`{"guard": {"cohort": "enforce", "percent": %v}}`, p))
		m := map[string]bool{}
		for i := 0; i < 10000; i++ {
			id := fmt.Sprintf("tenant-%d", i)
			if f.Mode(Guard, id) == "enforce" {
				m[id] = true
			}
		}
		return m
	}
	ten, thirty := picked(10), picked(30)
	if n := len(ten); n < 900 || n > 1100 {
		t.Errorf("10%% picked %d of 10000", n)
	}
	for id := range ten {
		if !thirty[id] {
			t.Fatalf("%s in the 10%% cohort but not the 30%% one", id)
		}
	}
	if len(picked(0)) != 0 || len(picked(100)) != 10000 {
		t.Error("0% or 100% wrong")
	}
	// The edge: t01's bucket is 3288, so 32.88% leaves it out and 32.89% takes it.
	for p, want := range map[float64]string{32.88: "off", 32.89: "enforce"} {
		f := mustFlags(t, nil, fmt.Sprintf(`{"guard": {"cohort": "enforce", "percent": %v}}`, p))
		if got := f.Mode(Guard, "t01"); got != want {
			t.Errorf("percent %v: t01 (bucket 3288) is %s, want %s", p, got, want)
		}
	}
}

// TestReloadUnderTraffic: while two configs replace each other, every
// decision is wholly one or the other (run with -race).
func TestReloadUnderTraffic(t *testing.T) {
	a, err := Parse([]byte(`{"guard": {"default": "enforce"}, "rewrite": {"default": "on"}, "required": {"default": "on"}}`))
	if err != nil {
		t.Fatal(err)
	}
	b, err := Parse([]byte(`{"guard": {"default": "off"}, "rewrite": {"default": "off"}, "required": {"default": "off"}}`))
	if err != nil {
		t.Fatal(err)
	}
	f := mustFlags(t, nil, "")
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var seen [2]atomic.Int64
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				d := f.Decide("t01", "invoices", "customers")
				switch d {
				case Decision{"enforce", "on", "on"}:
					seen[0].Add(1)
				case Decision{"off", "off", "off"}:
					seen[1].Add(1)
				default:
					t.Errorf("half-applied rules: %+v", d)
					return
				}
			}
		}()
	}
	// Switch until the readers have seen both (a busy machine may start
	// them late), at least 2000 times, for at most 10 seconds.
	deadline := time.Now().Add(10 * time.Second)
	for i := 0; i < 2000 || (seen[0].Load() == 0 || seen[1].Load() == 0) && time.Now().Before(deadline); i++ {
		c := a
		if i%2 == 1 {
			c = b
		}
		if err := f.Set(c); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
	if seen[0].Load() == 0 || seen[1].Load() == 0 {
		t.Errorf("decisions saw only one config: %d / %d", seen[0].Load(), seen[1].Load())
	}
}

// TestWatch: a changed file applies within the interval; a bad one is
// reported and the last good rules stay.
func TestWatch(t *testing.T) {
	path := filepath.Join(t.TempDir(), "flags.json")
	write := func(s string) { // replaced whole, as deployment tools do
		t.Helper()
		tmp := path + ".tmp"
		if err := os.WriteFile(tmp, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, path); err != nil {
			t.Fatal(err)
		}
	}
	write(issueExample)
	f := mustFlags(t, nil, "")
	if err := f.LoadFile(path); err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 10)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go f.Watch(ctx, path, 10*time.Millisecond, func(err error) { errs <- err })
	waitFor := func(want string) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for f.Mode(Guard, "t01", "invoices") != want {
			if time.Now().After(deadline) {
				t.Fatalf("guard on invoices stayed %s, want %s", f.Mode(Guard, "t01", "invoices"), want)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	waitFor("enforce")
	write(`{"guard": {"default": "audit"}}`)
	waitFor("audit")
	write(`{"guard": {"default": "strict"}}`)
	select {
	case err := <-errs:
		if !strings.Contains(err.Error(), "strict") {
			t.Fatalf("error %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("bad file not reported")
	}
	if got := f.Mode(Guard, "t01", "invoices"); got != "audit" {
		t.Fatalf("after a bad file guard is %s, want the last good audit", got)
	}
	if err := f.LoadFile(path); err == nil {
		t.Fatal("LoadFile accepted a bad file")
	}
}

// BenchmarkDecide is a statement's decision: three features, two tables,
// from the rules of the issue's example with a cohort.
func BenchmarkDecide(b *testing.B) {
	f := mustFlags(b, Defaults{Guard: "audit"}, `{"guard": {"default": "audit", "tables": {"invoices": "enforce"},
	  "tenants": {"t09": "off"}, "cohort": "enforce", "percent": 25}, "rewrite": {"default": "off"}}`)
	b.ReportAllocs()
	for b.Loop() {
		_ = f.Decide("t01", "invoices", "customers")
	}
}

// BenchmarkMode is one feature's decision for a statement of two tables.
func BenchmarkMode(b *testing.B) {
	f := mustFlags(b, Defaults{Guard: "audit"}, `{"guard": {"default": "audit", "tables": {"invoices": "enforce"},
	  "tenants": {"t09": "off"}, "cohort": "enforce", "percent": 25}}`)
	b.ReportAllocs()
	for b.Loop() {
		_ = f.Mode(Guard, "t01", "invoices", "customers")
	}
}

// TestWatchMissingFile: a file that stays missing is reported once, not
// at every tick.
func TestWatchMissingFile(t *testing.T) {
	f := mustFlags(t, nil, "")
	var n atomic.Int64
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	f.Watch(ctx, filepath.Join(t.TempDir(), "none.json"), 5*time.Millisecond, func(error) { n.Add(1) })
	if n.Load() != 1 {
		t.Fatalf("%d reports of one missing file, want 1", n.Load())
	}
}
