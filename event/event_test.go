package event

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

type collect struct{ got []Event }

func (c *collect) Handle(_ context.Context, e Event) { c.got = append(c.got, e) }

func TestLimit(t *testing.T) {
	c := &collect{}
	h := Limit(c, 50*time.Millisecond)
	ctx := context.Background()
	hot := Event{Kind: GuardViolation, Rule: "unscoped", Fingerprint: "f1"}
	for i := 0; i < 100; i++ {
		h.Handle(ctx, hot)
	}
	h.Handle(ctx, Event{Kind: GuardViolation, Rule: "unscoped", Fingerprint: "f2"}) // another statement passes
	h.Handle(ctx, Event{Kind: Tamper, Fingerprint: "f1"})                           // another kind passes
	if len(c.got) != 3 || c.got[0].Suppressed != 0 {
		t.Fatalf("passed %d events: %+v", len(c.got), c.got)
	}
	time.Sleep(60 * time.Millisecond)
	h.Handle(ctx, hot)
	if len(c.got) != 4 || c.got[3].Suppressed != 99 {
		t.Fatalf("after the interval: %d events, last suppressed %d, want 4 and 99", len(c.got), c.got[len(c.got)-1].Suppressed)
	}
}

func TestLearner(t *testing.T) {
	l := NewLearner()
	ctx := context.Background()
	v := Event{Kind: GuardViolation, Tables: []string{"invoices", "customers"}, Fingerprint: "f1", Rule: "unscoped",
		Mode: "audit", SQL: "SELECT * FROM invoices i JOIN customers c ON c.id = i.customer_id WHERE i.total > ?"}
	l.Handle(ctx, v)
	v.Suppressed = 4
	l.Handle(ctx, v)
	l.Handle(ctx, Event{Kind: Tamper, Fingerprint: "f9"}) // not a statement to review
	l.Handle(ctx, Event{Kind: Rewrite, Tables: []string{"invoices"}, Fingerprint: "f2", Mode: "audit", SQL: "SELECT 1"})
	got := l.Statements()
	if len(got) != 3 {
		t.Fatalf("%d statements: %+v", len(got), got)
	}
	if got[0].Table != "customers" || got[0].Count != 6 || got[1].Table != "invoices" || got[1].Fingerprint != "f1" || got[2].Kind != Rewrite {
		t.Fatalf("statements %+v", got)
	}
	var buf bytes.Buffer
	if err := l.WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	var back []Learned
	if err := json.Unmarshal(buf.Bytes(), &back); err != nil || len(back) != 3 || !strings.Contains(buf.String(), `"sql": "SELECT * FROM invoices`) {
		t.Fatalf("JSON %s (%v)", buf.String(), err)
	}
}
