package tenanthttp

import (
	"context"
	"crypto/rand"
	"net/http"

	"github.com/pgx-tenant/pgx-tenant/event"
)

// maxRequestIDLen bounds an accepted incoming request ID.
const maxRequestIDLen = 64

// requestID returns r's context with the request ID: the one already in
// the context (set by an outer middleware), else the client's if it is
// short and printable ASCII, else a random one. It writes the ID into the
// response and request headers, so later handlers read the accepted value,
// not the client's.
func (m *Middleware) requestID(w http.ResponseWriter, r *http.Request) context.Context {
	ctx := r.Context()
	id := event.RequestID(ctx)
	if id == "" {
		id = r.Header.Get(m.cfg.requestIDHeader)
		if !validRequestID(id) {
			id = rand.Text()
		}
		ctx = event.WithRequestID(ctx, id)
	}
	r.Header.Set(m.cfg.requestIDHeader, id)
	w.Header().Set(m.cfg.requestIDHeader, id)
	return ctx
}

func validRequestID(id string) bool {
	if id == "" || len(id) > maxRequestIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		if id[i] < 0x21 || id[i] > 0x7e {
			return false
		}
	}
	return true
}
