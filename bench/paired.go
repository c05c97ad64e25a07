package main

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/pgx-tenant/pgx-tenant/internal/pgtest"
)

// variant is one side of a paired comparison.
type variant struct {
	name string
	m    method
}

// pairedRatio measures how much slower candidate is than baseline on
// workload w, one goroutine over one connection each: every round runs both
// (the order alternating), takes each one's median latency, and the ratio of
// the two medians; the result is the median of those per-round ratios, with
// the lowest and highest. Pairing within a round cancels the drift of a
// shared machine that unpaired medians absorb.
func pairedRatio(ctx context.Context, d *pgtest.Database, w workload, baseline, candidate variant, ops, rounds int) (med, lo, hi float64, err error) {
	vs := []variant{baseline, candidate}
	runners := make([]runner, len(vs))
	one := shape{goroutines: 1, conns: 1, scale: 1}
	for i, v := range vs {
		r, err := v.m.open(ctx, d, 1)
		if err != nil {
			return 0, 0, 0, err
		}
		defer r.close()
		runners[i] = r
		if _, err := chunk(ctx, r, v.m, w, one, ops/4); err != nil {
			return 0, 0, 0, fmt.Errorf("%s: %w", v.name, err)
		}
	}
	var ratios []float64
	for round := 0; round < rounds; round++ {
		var medians [2]time.Duration
		for k := range vs {
			i := (k + round) % len(vs)
			res, err := chunk(ctx, runners[i], vs[i].m, w, one, ops)
			if err != nil {
				return 0, 0, 0, fmt.Errorf("%s: %w", vs[i].name, err)
			}
			slices.Sort(res.lat)
			medians[i] = res.lat[len(res.lat)/2]
		}
		ratios = append(ratios, float64(medians[1])/float64(medians[0]))
	}
	slices.Sort(ratios)
	return ratios[len(ratios)/2], ratios[0], ratios[len(ratios)-1], nil
}

// clearObjectsCost is what tenant_clear_objects=true adds when the tenant
// changes on every operation (its worst case), against the same scope
// without it.
func clearObjectsCost(ctx context.Context, d *pgtest.Database, ops, rounds int) (string, error) {
	out := "## Clearing session objects (tenant_clear_objects=true)\n\n" +
		"The tenant changes on every operation (the worst case: clearing happens on each change), " +
		"1 goroutine / 1 connection. Ratio of median latencies with and without clearing, paired per round " +
		"(order alternating); median of the rounds, with the lowest and highest.\n\n" +
		"| scope | workload | ratio | range |\n|---|---|---:|---|\n"
	for _, scope := range []string{"transaction", "session"} {
		base := method{name: scope, open: sqlMethod("pgx-tenant", "tenant_scope="+scope, tenantCtx)}
		clear := method{name: scope + ", clear objects", open: sqlMethod("pgx-tenant", "tenant_scope="+scope+" tenant_clear_objects=true", tenantCtx)}
		for _, w := range workloads[:2] {
			med, lo, hi, err := pairedRatio(ctx, d, w, variant{base.name, base}, variant{clear.name, clear}, ops, rounds)
			if err != nil {
				return "", err
			}
			out += fmt.Sprintf("| %s | %s | %.2f× | %.2f–%.2f× |\n", scope, w.name, med, lo, hi)
			fmt.Printf("clear objects, %s scope, %s: %.2fx (%.2f–%.2f)\n", scope, w.name, med, lo, hi)
		}
	}
	return out + "\n", nil
}
