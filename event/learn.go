package event

import (
	"context"
	"encoding/json"
	"io"
	"sort"
	"sync"
	"time"
)

// Learner collects, from the events it handles, the distinct statements
// the guard reported (audit runs them; enforce refuses them) and those the
// rewrite would change, per table: the review list before enforcing, and
// a test corpus. It keeps fingerprints, rules, counts and one sample SQL
// each (constants replaced by ?), never a value. Chain it with another
// handler with Tee.
type Learner struct {
	mu   sync.Mutex
	seen map[learnKey]*Learned
}

type learnKey struct {
	table, fingerprint string
	kind               Kind
}

// Learned is one statement as a Learner saw it.
type Learned struct {
	Table       string    `json:"table"`
	Fingerprint string    `json:"fingerprint"`
	Kind        Kind      `json:"kind"`
	Rule        string    `json:"rule,omitempty"`
	Mode        string    `json:"mode,omitempty"`
	SQL         string    `json:"sql,omitempty"`
	Count       int       `json:"count"`
	FirstSeen   time.Time `json:"first_seen"`
	LastSeen    time.Time `json:"last_seen"`
}

// NewLearner returns an empty Learner.
func NewLearner() *Learner { return &Learner{seen: map[learnKey]*Learned{}} }

// Handle records guard violations and rewrite events; others are ignored.
func (l *Learner) Handle(_ context.Context, e Event) {
	if e.Kind != GuardViolation && e.Kind != Rewrite {
		return
	}
	tables := e.Tables
	if len(tables) == 0 {
		tables = []string{""}
	}
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, t := range tables {
		k := learnKey{t, e.Fingerprint, e.Kind}
		x := l.seen[k]
		if x == nil {
			x = &Learned{Table: t, Fingerprint: e.Fingerprint, Kind: e.Kind, Rule: e.Rule, SQL: e.SQL, FirstSeen: now}
			l.seen[k] = x
		}
		x.Count += 1 + e.Suppressed
		x.Mode, x.LastSeen = e.Mode, now
	}
}

// Statements returns what the Learner saw, by table, then fingerprint.
func (l *Learner) Statements() []Learned {
	l.mu.Lock()
	out := make([]Learned, 0, len(l.seen))
	for _, x := range l.seen {
		out = append(out, *x)
	}
	l.mu.Unlock()
	sort.Slice(out, func(i, j int) bool {
		if out[i].Table != out[j].Table {
			return out[i].Table < out[j].Table
		}
		if out[i].Fingerprint != out[j].Fingerprint {
			return out[i].Fingerprint < out[j].Fingerprint
		}
		return out[i].Kind < out[j].Kind
	})
	return out
}

// WriteJSON writes Statements as a JSON array.
func (l *Learner) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(l.Statements())
}

// Tee returns a Handler that passes every event to each of hs in turn.
func Tee(hs ...Handler) Handler {
	return HandlerFunc(func(ctx context.Context, e Event) {
		for _, h := range hs {
			h.Handle(ctx, e)
		}
	})
}
