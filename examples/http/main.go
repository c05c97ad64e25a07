// Command http shows the whole chain from an HTTP request to the rows
// Row-Level Security lets it see: a login that issues the signed tenant
// cookie, the tenanthttp middleware that turns the cookie into the request's
// tenant (and ignores tenant headers a client sends), GET /invoices reading
// through the pgx-tenant driver as an ordinary role, and POST /switch.
//
//	go run ./examples/http          # runs a scripted session against itself, then exits
//	go run ./examples/http -serve   # keeps serving on 127.0.0.1:8080 for curl
//
// The demo user alice (password "wonderland") is a member of acme and
// globex; bob ("builder") of globex only. Memberships live in a table and
// are checked on every request. The database comes from
// PGX_TENANT_TEST_DATABASE, or is started from the local PostgreSQL binaries
// (see internal/pgtest).
package main

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"database/sql"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"mime"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"time"

	_ "github.com/pgx-tenant/pgx-tenant/driver" // registers "pgx-tenant"
	"github.com/pgx-tenant/pgx-tenant/event"
	"github.com/pgx-tenant/pgx-tenant/internal/pgtest"
	"github.com/pgx-tenant/pgx-tenant/tenant"
	"github.com/pgx-tenant/pgx-tenant/tenanthttp"
)

const policy = `tenant_id = (SELECT NULLIF(current_setting('app.tenant_id', true), ''))`

var schema = []string{
	`CREATE TABLE memberships (principal text NOT NULL, tenant_id text NOT NULL, PRIMARY KEY (principal, tenant_id))`,
	`CREATE TABLE invoices (
		id serial PRIMARY KEY,
		tenant_id text NOT NULL DEFAULT current_setting('app.tenant_id', true),
		customer text NOT NULL,
		total numeric NOT NULL)`,
	`ALTER TABLE invoices ENABLE ROW LEVEL SECURITY`,
	`ALTER TABLE invoices FORCE ROW LEVEL SECURITY`,
	`CREATE POLICY isolation ON invoices USING (` + policy + `) WITH CHECK (` + policy + `)`,
}

// seed runs as the admin role, which bypasses RLS.
var seed = []string{
	`INSERT INTO memberships VALUES ('alice', 'acme'), ('alice', 'globex'), ('bob', 'globex')`,
	`INSERT INTO invoices (tenant_id, customer, total) VALUES
		('acme', 'Road Runner', 120.00), ('acme', 'Coyote', 75.50),
		('globex', 'Hank Scorpio', 9999.99), ('initech', 'Bill Lumbergh', 42.00)`,
}

// passwords of the demo users. A real application has real authentication.
var passwords = map[string]string{"alice": "wonderland", "bob": "builder"}

func main() {
	serve := flag.Bool("serve", false, "keep serving for a manual curl session instead of running the scripted one")
	addr := flag.String("addr", "127.0.0.1:8080", "listen address with -serve")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, *serve, *addr, os.Stdout); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context, serve bool, addr string, out io.Writer) error {
	setup, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	srv, err := pgtest.Start(setup)
	if err != nil {
		return err
	}
	defer srv.Close()
	d, err := srv.NewDatabase(setup)
	if err != nil {
		return err
	}
	defer d.Drop(context.Background())
	if err := d.ExecOwner(setup, schema...); err != nil {
		return err
	}
	if err := d.Exec(setup, seed...); err != nil {
		return err
	}
	db, err := sql.Open("pgx-tenant", d.AppDSN) // an ordinary role: RLS applies
	if err != nil {
		return err
	}
	defer db.Close()

	if !serve {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	base := "http://" + ln.Addr().String()
	h, err := newApp(db, out, base)
	if err != nil {
		return err
	}
	hs := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go hs.Serve(ln)
	defer hs.Close()
	fmt.Fprintf(out, "PostgreSQL (%s): database %s, app role %s; serving %s\n", srv.Source, d.Name, d.AppRole, base)

	if serve {
		fmt.Fprintf(out, "try:\n  curl -i -c jar -b jar -H 'Content-Type: application/json' -d '{\"user\":\"alice\",\"password\":\"wonderland\"}' %s/login\n  curl -i -b jar %s/invoices\n(Ctrl-C to stop)\n", base, base)
		<-ctx.Done()
		return nil
	}
	return demo(ctx, base, out)
}

// app holds the demo's handlers.
type app struct {
	db       *sql.DB
	cookies  *tenanthttp.Cookies
	sessions *sessions
	origin   string
}

// newApp wires authentication (a session cookie), the tenant middleware
// and the handlers. origin is where the pages are served from: the only
// origin allowed to switch tenants.
func newApp(db *sql.DB, out io.Writer, origin string) (http.Handler, error) {
	// Real keys come from a secret store; rotate with WithVerificationKeys.
	key := tenanthttp.Key{ID: "demo-1", Secret: make([]byte, 32)}
	rand.Read(key.Secret)
	// Secure is off because the demo serves plain HTTP on loopback; never in
	// production.
	cookies, err := tenanthttp.NewCookies(key, tenanthttp.WithSecure(false), tenanthttp.WithTTL(time.Hour))
	if err != nil {
		return nil, err
	}
	a := &app{db: db, cookies: cookies, sessions: &sessions{byToken: map[string]string{}}, origin: origin}
	mw, err := tenanthttp.New(
		tenanthttp.WithCookies(cookies),
		tenanthttp.WithPrincipal(principal),
		tenanthttp.WithMembership(a.isMember),
		tenanthttp.WithAllowedOrigins(origin),
		tenanthttp.WithEventHandler(event.HandlerFunc(func(_ context.Context, e event.Event) {
			fmt.Fprintf(out, "   (server) event %s rule=%s request_id=%s\n", e.Kind, e.Rule, e.RequestID)
		})),
	)
	if err != nil {
		return nil, err
	}
	switcher, err := mw.SwitchHandler()
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /login", a.login)
	mux.HandleFunc("POST /logout", a.logout)
	mux.Handle("/switch", switcher)
	mux.Handle("GET /invoices", mw.Handler(http.HandlerFunc(a.invoices)))
	return a.sessions.authenticate(mux), nil
}

// isMember is the membership check, a query through the same driver. It
// runs before the request has a tenant: memberships has no RLS.
func (a *app) isMember(ctx context.Context, principal, tenantID string) (bool, error) {
	var ok bool
	err := a.db.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM memberships WHERE principal = $1 AND tenant_id = $2)`,
		principal, tenantID).Scan(&ok)
	return ok, err
}

func (a *app) firstTenant(ctx context.Context, principal string) (string, error) {
	var id string
	err := a.db.QueryRowContext(ctx, `SELECT tenant_id FROM memberships WHERE principal = $1 ORDER BY tenant_id LIMIT 1`, principal).Scan(&id)
	return id, err
}

// sameSite refuses what a browser says comes from another site: a login
// another site posts would sign the victim's browser in as the attacker,
// whose tenant she would then fill (login CSRF), and its tenant cookie would
// follow. The switch handler makes the same check for switches.
func (a *app) sameSite(r *http.Request) bool {
	if s := r.Header.Get("Sec-Fetch-Site"); s != "" && s != "same-origin" && s != "none" {
		return false
	}
	o := r.Header.Values("Origin")
	return len(o) == 0 || (len(o) == 1 && o[0] == a.origin)
}

// login checks the password, starts a session and issues the tenant cookie
// for the user's first tenant. It takes application/json only, a type no
// other site can post without a CORS preflight this server never grants.
func (a *app) login(w http.ResponseWriter, r *http.Request) {
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" || !a.sameSite(r) {
		http.Error(w, "forbidden", http.StatusForbidden)
		return
	}
	var body struct{ User, Password string }
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<10)).Decode(&body); err != nil {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	want, known := passwords[body.User]
	if !known || subtle.ConstantTimeCompare([]byte(want), []byte(body.Password)) != 1 {
		http.Error(w, "wrong user or password", http.StatusUnauthorized)
		return
	}
	tenantID, err := a.firstTenant(r.Context(), body.User)
	if err != nil {
		http.Error(w, "no tenant", http.StatusForbidden)
		return
	}
	a.sessions.start(w, body.User)
	if err := a.cookies.Issue(w, body.User, tenantID); err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	writeJSON(w, map[string]string{"user": body.User, "tenant": tenantID})
}

func (a *app) logout(w http.ResponseWriter, r *http.Request) {
	if !a.sameSite(r) {
		http.Error(w, "forbidden", http.StatusForbidden)
		return
	}
	a.sessions.end(w, r)
	a.cookies.Clear(w)
	w.WriteHeader(http.StatusNoContent)
}

// invoices lists the request's tenant's invoices. It has no tenant logic:
// the driver binds the context's tenant and RLS filters the rows.
func (a *app) invoices(w http.ResponseWriter, r *http.Request) {
	id, _ := tenant.FromContext(r.Context())
	rows, err := a.db.QueryContext(r.Context(), `SELECT customer, total::text FROM invoices ORDER BY id`)
	if err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	defer rows.Close()
	type invoice struct {
		Customer string `json:"customer"`
		Total    string `json:"total"`
	}
	list := []invoice{}
	for rows.Next() {
		var v invoice
		if err := rows.Scan(&v.Customer, &v.Total); err != nil {
			http.Error(w, "internal error", http.StatusInternalServerError)
			return
		}
		list = append(list, v)
	}
	writeJSON(w, struct {
		Tenant   string    `json:"tenant"`
		Invoices []invoice `json:"invoices"`
	}{id, list})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "private, no-store")
	json.NewEncoder(w).Encode(v)
}

// sessions is the demo's authentication: an opaque session cookie mapped to
// a user in memory. tenanthttp does not authenticate; it asks principal.
type sessions struct {
	mu      sync.Mutex // protects byToken
	byToken map[string]string
}

type principalKey struct{}

// principal is the WithPrincipal function: what authenticate found.
func principal(r *http.Request) (string, bool) {
	p, ok := r.Context().Value(principalKey{}).(string)
	return p, ok
}

func (s *sessions) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if c, err := r.Cookie("session"); err == nil {
			s.mu.Lock()
			user, ok := s.byToken[c.Value]
			s.mu.Unlock()
			if ok {
				r = r.WithContext(context.WithValue(r.Context(), principalKey{}, user))
			}
		}
		next.ServeHTTP(w, r)
	})
}

func (s *sessions) start(w http.ResponseWriter, user string) {
	token := rand.Text()
	s.mu.Lock()
	s.byToken[token] = user
	s.mu.Unlock()
	http.SetCookie(w, &http.Cookie{Name: "session", Value: token, Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode})
}

func (s *sessions) end(w http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie("session"); err == nil {
		s.mu.Lock()
		delete(s.byToken, c.Value)
		s.mu.Unlock()
	}
	http.SetCookie(w, &http.Cookie{Name: "session", Path: "/", MaxAge: -1, HttpOnly: true})
}

var errUnexpected = errors.New("unexpected response")
