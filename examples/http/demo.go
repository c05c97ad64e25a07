package main

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"slices"
	"strings"
)

// step is one request of the scripted session, printed the way curl -i
// would show it.
type step struct {
	say    string
	user   string // whose browser (cookie jar)
	method string
	path   string
	body   string
	header map[string]string
	want   int
	// tenant is the tenant a 200 answer must name ("" for no check): a
	// status alone would not show which tenant's rows came back.
	tenant string
	// edit changes the jar's tenant cookie before the request (tampering).
	edit func(value string) string
	// keep remembers the jar's tenant cookie before the request.
	keep *string
}

// demo plays a browser session against base and checks each answer.
func demo(ctx context.Context, base string, out io.Writer) error {
	jars := map[string]*cookiejar.Jar{}
	client := func(user string) *http.Client {
		if jars[user] == nil {
			jars[user], _ = cookiejar.New(nil)
		}
		return &http.Client{Jar: jars[user]}
	}
	jsonBody := map[string]string{"Content-Type": "application/json"}
	sameOrigin := map[string]string{"Content-Type": "application/json", "Origin": base}
	var aliceAcme string // alice's acme tenant cookie, replayed by bob later
	steps := []step{
		{say: "no login, no tenant cookie", user: "alice", path: "/invoices", want: 403},
		{say: "another site posts a login form as bob into alice's browser (login CSRF: she would work in bob's tenant)", user: "alice", method: "POST", path: "/login",
			body: `{"user":"bob","password":"builder"}`, header: map[string]string{"Content-Type": "text/plain", "Origin": "https://evil.example"}, want: 403},
		{say: "the same without Origin or fetch metadata (an old browser, or a stripping proxy)", user: "alice", method: "POST", path: "/login",
			body: `{"user":"bob","password":"builder"}`, header: map[string]string{"Content-Type": "text/plain"}, want: 403},
		{say: "alice logs in: a session cookie and a tenant cookie for acme", user: "alice", method: "POST", path: "/login",
			body: `{"user":"alice","password":"wonderland"}`, header: jsonBody, want: 200, tenant: "acme"},
		{say: "acme's invoices, through the driver and RLS", user: "alice", path: "/invoices", want: 200, tenant: "acme"},
		{say: "a spoofed tenant header changes nothing", user: "alice", path: "/invoices", header: map[string]string{"X-Tenant-ID": "globex"}, want: 200, tenant: "acme", keep: &aliceAcme},
		{say: "alice edits the payload of her tenant cookie to say globex", user: "alice", path: "/invoices", want: 403, edit: toGlobex},
		{say: "alice logs in again", user: "alice", method: "POST", path: "/login",
			body: `{"user":"alice","password":"wonderland"}`, header: jsonBody, want: 200},
		{say: "switching needs POST", user: "alice", path: "/switch", want: 405},
		{say: "switching from another site is refused", user: "alice", method: "POST", path: "/switch",
			body: `{"tenant":"globex"}`, header: map[string]string{"Content-Type": "application/json", "Origin": "https://evil.example"}, want: 403},
		{say: "switching to a tenant alice is not a member of is refused", user: "alice", method: "POST", path: "/switch",
			body: `{"tenant":"initech"}`, header: sameOrigin, want: 403},
		{say: "alice switches to globex", user: "alice", method: "POST", path: "/switch", body: `{"tenant":"globex"}`, header: sameOrigin, want: 200, tenant: "globex"},
		{say: "globex's invoices", user: "alice", path: "/invoices", want: 200, tenant: "globex"},
		{say: "bob logs in (member of globex only)", user: "bob", method: "POST", path: "/login",
			body: `{"user":"bob","password":"builder"}`, header: jsonBody, want: 200},
		{say: "bob replays alice's acme tenant cookie", user: "bob", path: "/invoices", want: 403,
			edit: func(string) string { return aliceAcme }},
		{say: "alice logs out", user: "alice", method: "POST", path: "/logout", want: 204},
		{say: "after logout", user: "alice", path: "/invoices", want: 403},
	}
	u, _ := url.Parse(base)
	for _, s := range steps {
		c := client(s.user)
		if s.edit != nil {
			for _, ck := range c.Jar.Cookies(u) {
				if ck.Name == "tenant" {
					ck.Value = s.edit(ck.Value)
					c.Jar.SetCookies(u, []*http.Cookie{ck})
				}
			}
		}
		if s.keep != nil {
			for _, ck := range c.Jar.Cookies(u) {
				if ck.Name == "tenant" {
					*s.keep = ck.Value
				}
			}
		}
		if err := do(ctx, c, base, s, out); err != nil {
			return err
		}
	}
	fmt.Fprintln(out, "every answer as expected: tenants isolated from the HTTP request to the rows")
	return nil
}

func do(ctx context.Context, c *http.Client, base string, s step, out io.Writer) error {
	method := s.method
	if method == "" {
		method = http.MethodGet
	}
	req, err := http.NewRequestWithContext(ctx, method, base+s.path, strings.NewReader(s.body))
	if err != nil {
		return err
	}
	cmd := "curl -i -b " + s.user + ".jar -c " + s.user + ".jar"
	if method != http.MethodGet && s.body == "" {
		cmd += " -X " + method
	}
	for _, k := range slices.Sorted(maps.Keys(s.header)) {
		req.Header.Set(k, s.header[k])
		cmd += fmt.Sprintf(" -H '%s: %s'", k, s.header[k])
	}
	if s.body != "" {
		cmd += " -d '" + s.body + "'"
	}
	fmt.Fprintf(out, "\n# %s\n$ %s %s\n", s.say, cmd, base+s.path)
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "HTTP/1.1 %s\n", resp.Status)
	for _, h := range []string{"Content-Type", "X-Request-Id", "Allow"} {
		if v := resp.Header.Get(h); v != "" {
			fmt.Fprintf(out, "%s: %s\n", h, v)
		}
	}
	for _, sc := range resp.Header.Values("Set-Cookie") {
		if len(sc) > 60 {
			sc = sc[:strings.IndexByte(sc, '=')+13] + "…" + sc[strings.Index(sc, ";"):]
		}
		fmt.Fprintf(out, "Set-Cookie: %s\n", sc)
	}
	if b := strings.TrimSpace(string(body)); b != "" {
		fmt.Fprintf(out, "\n%s\n", b)
	}
	if resp.StatusCode != s.want {
		return fmt.Errorf("%w: %s: %s, want %d", errUnexpected, s.say, resp.Status, s.want)
	}
	if s.tenant != "" && !strings.Contains(string(body), `"tenant":"`+s.tenant+`"`) {
		return fmt.Errorf("%w: %s: answer does not name tenant %s", errUnexpected, s.say, s.tenant)
	}
	return nil
}

// toGlobex replaces the payload of a tenant cookie (v1.<key>.<payload>.<MAC>)
// with one naming globex, keeping the MAC: what a user editing the cookie
// in the browser's developer tools would try.
func toGlobex(value string) string {
	parts := strings.Split(value, ".")
	if len(parts) != 4 {
		return value
	}
	parts[2] = base64.RawURLEncoding.EncodeToString([]byte(`{"t":"globex","p":"alice","e":4102444800}`))
	return strings.Join(parts, ".")
}
