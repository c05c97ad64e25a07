package event

import (
	"context"
	"sync"
	"time"
)

// Limit returns a Handler that passes to h at most one event per kind,
// rule, mode and fingerprint every interval, so that a hot unscoped statement
// cannot flood the logs; the next event it passes says in Suppressed how
// many it dropped meanwhile. Keys not seen for an interval are forgotten.
func Limit(h Handler, every time.Duration) Handler {
	return &limiter{h: h, every: every, seen: map[limitKey]*limitState{}}
}

type limitKey struct {
	kind                    Kind
	rule, mode, fingerprint string
}

type limitState struct {
	passed     time.Time
	suppressed int
}

type limiter struct {
	h     Handler
	every time.Duration

	mu    sync.Mutex
	seen  map[limitKey]*limitState
	swept time.Time
}

func (l *limiter) Handle(ctx context.Context, e Event) {
	now := time.Now()
	k := limitKey{e.Kind, e.Rule, e.Mode, e.Fingerprint}
	l.mu.Lock()
	if now.Sub(l.swept) > l.every {
		for key, st := range l.seen {
			if now.Sub(st.passed) > l.every && st.suppressed == 0 {
				delete(l.seen, key)
			}
		}
		l.swept = now
	}
	st := l.seen[k]
	if st != nil && now.Sub(st.passed) < l.every {
		st.suppressed++
		l.mu.Unlock()
		return
	}
	if st == nil {
		st = &limitState{}
		l.seen[k] = st
	}
	e.Suppressed, st.suppressed, st.passed = st.suppressed, 0, now
	l.mu.Unlock()
	l.h.Handle(ctx, e)
}
