// Package bench measures what tenant binding costs, always against plain pgx
// stdlib in the same run, so results are ratios rather than absolute times
// (the machines these run on are shared and noisy).
//
//	go test ./bench -run '^$' -bench . -benchtime 2000x -count 5
//
// The baseline connects as the same ordinary role with the tenant given as a
// startup parameter: the same query, the same policy, no per-statement
// binding at all — the physical limit.
package bench
