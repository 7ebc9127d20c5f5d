package doctor

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/stacklab/stacklab/checks"
	"github.com/stacklab/stacklab/installer/openstack"
	"github.com/stacklab/stacklab/internal/cloud"
	"github.com/stacklab/stacklab/lab"
)

func (dr *doctor) dashboardChecks() []checks.Check {
	return []checks.Check{
		{ID: IDApache, Title: "Apache runs and its configuration parses",
			DependsOn: dr.deps(IDLabHost, UnitID("apache2")), Run: dr.checkApache, Early: dr.prefetch},
		{ID: IDDashboardPage, Title: "the dashboard's login page answers 200 at the management address",
			DependsOn: []string{IDApache, IDMemcached}, Run: dr.checkLoginPage},
		{ID: IDDashboardStatic, Title: "the dashboard's CSS and JavaScript are served",
			DependsOn: []string{IDDashboardPage}, Run: dr.checkStatic},
		{ID: IDDashboardKeystone, Title: "the keystone URL Horizon is configured with answers",
			DependsOn: []string{IDLabHost, IDKeystone}, Run: dr.checkHorizonKeystone},
		{ID: IDDashboardLogin, Title: "a real dashboard login with the admin credentials works",
			DependsOn: []string{IDDashboardPage, IDDashboardKeystone, IDKeystoneAuth, IDMemcached},
			Timeout:   2*dr.cfg.probe() + time.Second, Run: dr.checkLogin, Early: dr.startLogin},
	}
}

func (dr *doctor) notDashboard() (checks.Result, bool) {
	if r, ok := dr.notLab(); ok {
		return checks.Skipped(r.Summary + " (the dashboard is checked on the lab host)"), true
	}
	return checks.Result{}, false
}

func (dr *doctor) checkApache(ctx context.Context) checks.Result {
	if r, ok := dr.notDashboard(); ok {
		return r
	}
	out, err := dr.apacheDump(ctx)
	if err != nil {
		ev := append([]string{"apache2ctl " + strings.Join(apacheDumpArgs, " "), err.Error()}, apacheErrors(out)...)
		fix := "fix the file named above; stacklab install --yes --only dashboard restores the lab's site"
		if f, ok := ApacheSyntaxFix(ev); ok {
			fix = f
		}
		return checks.Failf("Apache's configuration does not parse", fix, ev...)
	}
	return checks.Pass("Apache's configuration parses (apache2ctl " + strings.Join(apacheDumpArgs, " ") + ")")
}

// apacheDump is apache2ctl's parse of the configuration with its include
// list, run once per run: the apache check, the apache2 unit's verdict
// and the WSGI check all read it.
func (dr *doctor) apacheDump(ctx context.Context) ([]byte, error) {
	return dr.apache.get(ctx, func(ctx context.Context) ([]byte, error) {
		return dr.d.Host.Run(ctx, "apache2ctl", apacheDumpArgs...)
	})
}

// prefetch starts apache2ctl's parse with the run, on the lab host: it
// (100–140 ms of starting Apache with its modules on 2 cores) waited
// behind the unit checks, which wait behind the OOM check's journal, and
// the dashboard's checks waited behind it. Each check still reads it
// through its memo and grades it; only when it starts changes. The read
// gets its own bound, as the run's context ends with the run.
func (dr *doctor) prefetch(ctx context.Context) {
	if !dr.cfg.Lab {
		return
	}
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), checks.DefaultTimeout)
	go func() {
		defer cancel()
		_, _ = dr.apacheDump(pctx)
	}()
}

// apacheErrors is apache2ctl's output without its include list: what it
// said about the configuration.
func apacheErrors(out []byte) []string {
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if l != "" && l != "Included configuration files:" && !apacheIncludeRE.MatchString(l) {
			lines = append(lines, l)
		}
	}
	return lines
}

var apacheSyntaxRE = regexp.MustCompile(`Syntax error on line (\d+) of ([^\s:]+)`)

// ApacheSyntaxFix reads Apache's "Syntax error on line N of FILE:" (from
// apache2ctl configtest or the unit's journal) into a fix naming the file
// and line, so nobody has to rerun configtest to learn where to look.
// Apache puts the reason on the line after; it is quoted when present.
func ApacheSyntaxFix(lines []string) (string, bool) {
	for i, l := range lines {
		m := apacheSyntaxRE.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		why := ""
		if i+1 < len(lines) && !apacheSyntaxRE.MatchString(lines[i+1]) {
			why = " (" + strings.TrimSpace(strings.TrimPrefix(lines[i+1], "apache2ctl configtest: ")) + ")"
		}
		return fmt.Sprintf("fix line %s of %s%s; apache2ctl configtest must say Syntax OK, then systemctl restart apache2", m[1], m[2], why), true
	}
	return "", false
}

func (dr *doctor) loginURL() string {
	return openstack.DashboardLoginURL(dr.cfg.HorizonURL)
}

// PageVerdict reads the login page's answer: a 400 is Django refusing the
// Host header (ALLOWED_HOSTS), a 500 with OfflineGenerationError is a
// missing compressed-assets manifest.
func PageVerdict(u, host string, status int, body []byte) checks.Result {
	ev := []string{fmt.Sprintf("GET %s (Host: %s) → HTTP %d", u, host, status)}
	switch {
	case status == http.StatusOK:
		return checks.Pass("login page answers 200", ev...)
	case status == http.StatusBadRequest:
		return checks.Failf("Horizon refuses the Host "+host+": ALLOWED_HOSTS lacks the management address",
			"add '"+host+"' to ALLOWED_HOSTS in /etc/openstack-dashboard/local_settings.py and systemctl reload apache2 (or: stacklab doctor --fix)", ev...)
	case status >= 500 && bytes.Contains(body, []byte("OfflineGenerationError")):
		return checks.Failf("Horizon's compressed assets are missing (OfflineGenerationError)",
			"/usr/share/openstack-dashboard/manage.py compress --force && systemctl reload apache2", append(ev, "body mentions OfflineGenerationError")...)
	case status == http.StatusNotFound:
		return checks.Failf("no dashboard at "+u, "check the WSGIScriptAlias in /etc/apache2/sites-enabled; stacklab install --yes --only dashboard", ev...)
	}
	return checks.Failf(fmt.Sprintf("login page answers HTTP %d", status),
		"tail -50 /var/log/apache2/error.log; tail -50 /var/log/apache2/*horizon*", append(ev, "body: "+firstLines(string(body), 3))...)
}

func (dr *doctor) checkLoginPage(ctx context.Context) checks.Result {
	if r, ok := dr.notDashboard(); ok {
		return r
	}
	u := dr.loginURL()
	status, body, err := dr.get(ctx, u, nil)
	if err != nil {
		return checks.Failf("the dashboard "+hungOrDown(err), "systemctl restart apache2", "GET "+u, err.Error())
	}
	return PageVerdict(u, dr.cfg.MgmtIP, status, body)
}

var assetRE = regexp.MustCompile(`(?:href|src)=['"]([^'"]+\.(?:css|js))['"]`)

// Assets returns the first CSS and the first JS asset a page links.
func Assets(body []byte) []string {
	var css, js string
	for _, m := range assetRE.FindAllSubmatch(body, -1) {
		a := string(m[1])
		switch {
		case strings.HasSuffix(a, ".css") && css == "":
			css = a
		case strings.HasSuffix(a, ".js") && js == "":
			js = a
		}
	}
	var out []string
	for _, a := range []string{css, js} {
		if a != "" {
			out = append(out, a)
		}
	}
	return out
}

func (dr *doctor) checkStatic(ctx context.Context) checks.Result {
	if r, ok := dr.notDashboard(); ok {
		return r
	}
	base, err := url.Parse(dr.loginURL())
	if err != nil {
		return checks.Failf("bad dashboard URL", "", err.Error())
	}
	_, body, err := dr.get(ctx, base.String(), nil)
	if err != nil {
		return checks.Failf("the login page "+hungOrDown(err), "systemctl restart apache2", err.Error())
	}
	assets := Assets(body)
	if len(assets) == 0 {
		return checks.Failf("the login page links no CSS or JavaScript", "/usr/share/openstack-dashboard/manage.py compress --force && systemctl reload apache2")
	}
	// The assets are fetched side by side, and only their first KiB:
	// whole, the compressed CSS and JavaScript took 180 ms of a 450 ms
	// doctor run (CI28) to prove no more than that Apache serves them.
	type fetched struct {
		url    string
		status int
		body   []byte
		err    error
	}
	got := make([]fetched, len(assets))
	var wg sync.WaitGroup
	for i, a := range assets {
		got[i].url = a
		ref, err := url.Parse(a)
		if err != nil {
			got[i].err = err
			continue
		}
		got[i].url = base.ResolveReference(ref).String()
		wg.Add(1)
		go func() {
			defer wg.Done()
			got[i].status, got[i].body, got[i].err = dr.get(ctx, got[i].url, http.Header{"Range": {"bytes=0-1023"}})
		}()
	}
	wg.Wait()
	var ev, bad []string
	for _, f := range got {
		u, status, body, err := f.url, f.status, f.body, f.err
		switch {
		case err != nil:
			bad = append(bad, u)
			ev = append(ev, u+": "+err.Error())
		case status != http.StatusOK && status != http.StatusPartialContent:
			bad = append(bad, u)
			ev = append(ev, fmt.Sprintf("%s: HTTP %d", u, status))
			if bytes.Contains(body, []byte("OfflineGenerationError")) {
				return checks.Failf("static assets fail with OfflineGenerationError: compress has not run",
					"/usr/share/openstack-dashboard/manage.py compress --force && systemctl reload apache2", ev...)
			}
		default:
			ev = append(ev, fmt.Sprintf("%s: HTTP %d, %d bytes read", u, status, len(body)))
		}
	}
	if len(bad) > 0 {
		return checks.Failf("static assets not served: "+strings.Join(bad, ", "),
			"check 'Alias /static /var/lib/openstack-dashboard/static' in Apache; /usr/share/openstack-dashboard/manage.py collectstatic --noinput && manage.py compress --force", ev...)
	}
	return checks.Pass(fmt.Sprintf("%d static asset(s) served", len(assets)), ev...)
}

// Summaries of the dashboard-keystone failures that doctor --fix repairs
// by rewriting the setting (Plan matches them).
const (
	keystoneURLDead  = "Horizon's keystone URL does not answer"
	keystoneURLUnset = "OPENSTACK_KEYSTONE_URL is not set"
)

// HorizonKeystoneURL is the keystone URL the lab renders into Horizon:
// the model's, on the management address doctor found.
func HorizonKeystoneURL(mgmtIP string) string {
	return lab.Of(openstack.Params{MgmtIP: mgmtIP}).KeystoneURL()
}

// SetKeystoneURL returns Horizon's settings with the top-level
// OPENSTACK_KEYSTONE_URL statement replaced by one assigning u, whatever
// its old expression or quoting; every other line stays byte for byte.
// Commented-out and indented assignments are not Horizon's setting and are
// left alone; without a top-level one, it is appended under stacklab's
// marker, as the install does. A file that ends inside a bracket or a
// string is refused: where the statement ends is unknowable.
func SetKeystoneURL(settings, u string) (string, bool, error) {
	if err := openstack.CheckPythonSettings(settings); err != nil {
		return settings, false, fmt.Errorf("cannot edit OPENSTACK_KEYSTONE_URL safely: %w", err)
	}
	out, changed := openstack.EditPythonSettings(settings, []openstack.PySetting{{Name: "OPENSTACK_KEYSTONE_URL", Expr: strconv.Quote(u)}})
	return out, changed, nil
}

func (dr *doctor) checkHorizonKeystone(ctx context.Context) checks.Result {
	if r, ok := dr.notDashboard(); ok {
		return r
	}
	f := HorizonSettingsFiles[0]
	b, err := dr.d.Host.ReadFile(f)
	if err != nil {
		return checks.Failf("cannot read Horizon's settings", "stacklab install --yes --only dashboard", err.Error())
	}
	fix := fmt.Sprintf("set OPENSTACK_KEYSTONE_URL = \"%s\" in %s; systemctl reload apache2   (or: stacklab doctor --fix)", HorizonKeystoneURL(dr.cfg.MgmtIP), f)
	u, ok := horizonKeystoneURL(b)
	if !ok {
		return checks.Failf(keystoneURLUnset+" in "+f, fix)
	}
	status, _, err := dr.get(ctx, u, nil)
	ev := []string{f + ": OPENSTACK_KEYSTONE_URL = " + u}
	if err != nil || status != http.StatusOK {
		if err != nil {
			ev = append(ev, err.Error())
		} else {
			ev = append(ev, fmt.Sprintf("HTTP %d", status))
		}
		return checks.Failf(keystoneURLDead, fix, ev...)
	}
	if h := endpointHostOf(u); !dr.cfg.isMgmt(h) {
		return checks.Warnf("Horizon's keystone URL answers but is not on the management address "+dr.cfg.MgmtIP,
			fmt.Sprintf("set OPENSTACK_KEYSTONE_URL = \"%s\" in %s", HorizonKeystoneURL(dr.cfg.MgmtIP), f), ev...)
	}
	return checks.Pass("Horizon's keystone URL answers", ev...)
}

var (
	inputRE = regexp.MustCompile(`(?is)<input\b[^>]*>`)
	attrRE  = regexp.MustCompile(`(?is)\b(name|value|type)\s*=\s*("[^"]*"|'[^']*')`)
)

// FormFields returns the hidden inputs of an HTML page (the CSRF token and
// Horizon's region), by name.
func FormFields(body []byte) map[string]string {
	out := map[string]string{}
	for _, attrs := range formInputs(body) {
		if attrs["name"] != "" && strings.EqualFold(attrs["type"], "hidden") {
			out[attrs["name"]] = attrs["value"]
		}
	}
	return out
}

// formAsks reports whether the page has a visible input called name.
func formAsks(body []byte, name string) bool {
	for _, attrs := range formInputs(body) {
		if attrs["name"] == name && !strings.EqualFold(attrs["type"], "hidden") {
			return true
		}
	}
	return false
}

func formInputs(body []byte) []map[string]string {
	var out []map[string]string
	for _, tag := range inputRE.FindAll(body, -1) {
		attrs := map[string]string{}
		for _, a := range attrRE.FindAllSubmatch(tag, -1) {
			attrs[strings.ToLower(string(a[1]))] = strings.Trim(string(a[2]), `"'`)
		}
		out = append(out, attrs)
	}
	return out
}

// ErrLoginRefused: Horizon showed the login form again.
var ErrLoginRefused = errors.New("horizon: login refused")

// ErrSessionLost: the login was accepted, and the next page sent us back
// to the login form.
var ErrSessionLost = errors.New("the session did not hold")

// DashboardLogin logs in to Horizon at loginURL as user, CSRF handled, and
// follows the redirect to prove the session holds (a session backend that
// loses it bounces back to the login page). domain is typed where the form
// asks for one ("Default" when empty). first, when it is a login page with
// its CSRF token, is posted back instead of a GET of its own: doctor's
// dashboard-page check has just read the page, and the login waits on
// keystone's checks meanwhile. It returns evidence lines.
func DashboardLogin(ctx context.Context, base *http.Client, loginURL string, first *Page, domain, user, password string) ([]string, error) {
	jar, _ := cookiejar.New(nil)
	c := &http.Client{
		Transport: base.Transport, Jar: jar, Timeout: base.Timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	type answer struct {
		StatusCode int
		Header     http.Header
	}
	do := func(req *http.Request) (answer, []byte, error) {
		resp, err := c.Do(req)
		if err != nil {
			return answer{}, nil, err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(io.LimitReader(resp.Body, 256<<10))
		return answer{resp.StatusCode, resp.Header}, b, err
	}
	var ev []string
	var (
		resp   answer
		body   []byte
		fields map[string]string
	)
	if first != nil && first.Status == http.StatusOK {
		if f := FormFields(first.Body); f["csrfmiddlewaretoken"] != "" {
			if u, err := url.Parse(loginURL); err == nil {
				jar.SetCookies(u, first.Cookies)
				body, fields = first.Body, f
				ev = append(ev, "login page (as read by the dashboard-page check): 200, CSRF token found")
			}
		}
	}
	if fields == nil {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, loginURL, nil)
		if err != nil {
			return nil, err
		}
		resp, body, err = do(req)
		if err != nil {
			return ev, err
		}
		if resp.StatusCode != http.StatusOK {
			return ev, fmt.Errorf("GET %s: HTTP %d", loginURL, resp.StatusCode)
		}
		fields = FormFields(body)
		if fields["csrfmiddlewaretoken"] == "" {
			return ev, errors.New("the login page has no csrfmiddlewaretoken")
		}
		ev = append(ev, "GET login page: 200, CSRF token found")
	}
	form := url.Values{}
	for k, v := range fields {
		form.Set(k, v)
	}
	form.Set("username", user)
	form.Set("password", password)
	if formAsks(body, "domain") {
		if domain == "" {
			domain = "Default"
		}
		form.Set("domain", domain)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, loginURL, strings.NewReader(form.Encode()))
	if err != nil {
		return ev, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Referer", loginURL)
	resp, body, err = do(req)
	if err != nil {
		return ev, err
	}
	loc := resp.Header.Get("Location")
	ev = append(ev, fmt.Sprintf("POST login as %s: HTTP %d %s", user, resp.StatusCode, loc))
	switch {
	case resp.StatusCode == http.StatusForbidden:
		return ev, fmt.Errorf("CSRF verification failed (HTTP 403): %s", firstLines(string(body), 2))
	case resp.StatusCode != http.StatusFound && resp.StatusCode != http.StatusSeeOther:
		msg := "no redirect"
		for _, s := range []string{"Invalid credentials", "An error occurred authenticating", "Unable to establish connection", "Unable to retrieve authorized projects"} {
			if bytes.Contains(body, []byte(s)) {
				msg = s
			}
		}
		return ev, fmt.Errorf("%w: %s", ErrLoginRefused, msg)
	case strings.Contains(loc, "/auth/login"):
		return ev, fmt.Errorf("%w: redirected back to the login page", ErrLoginRefused)
	}
	base2, _ := url.Parse(loginURL)
	// The session is proven by Horizon's own REST view of it: following
	// the redirect renders the project overview, which cost Horizon about
	// a quarter of a second of nova and neutron calls on every doctor run.
	// A Horizon without that view (404) is followed to its landing page.
	held, sev, err := restSession(ctx, c, base2)
	ev = append(ev, sev...)
	if err != nil || held {
		return ev, err
	}
	next, err := base2.Parse(loc)
	if err != nil {
		return ev, err
	}
	req, err = http.NewRequestWithContext(ctx, http.MethodGet, next.String(), nil)
	if err != nil {
		return ev, err
	}
	// Follow up to two redirects (/horizon/ → /horizon/project/) without
	// ever landing on the login page again.
	for range 3 {
		resp, _, err = do(req)
		if err != nil {
			return ev, err
		}
		loc = resp.Header.Get("Location")
		ev = append(ev, fmt.Sprintf("GET %s: HTTP %d %s", req.URL.Path, resp.StatusCode, loc))
		if resp.StatusCode == http.StatusOK {
			return ev, nil
		}
		if loc == "" || strings.Contains(loc, "/auth/login") {
			break
		}
		nu, err := req.URL.Parse(loc)
		if err != nil {
			return ev, err
		}
		req, err = http.NewRequestWithContext(ctx, http.MethodGet, nu.String(), nil)
		if err != nil {
			return ev, err
		}
	}
	return ev, fmt.Errorf("%w: the page after login sent us back to the login form (session backend)", ErrSessionLost)
}

// sessionPath is Horizon's REST view of the logged-in user's session,
// relative to the login page (web root + "auth/login/").
const sessionPath = "../../api/keystone/user-session/"

// restSession asks Horizon's REST API whether the login's session holds:
// 200 yes, 401 no (the session backend lost it). held false with no error
// means Horizon has no such view.
func restSession(ctx context.Context, c *http.Client, loginURL *url.URL) (held bool, ev []string, err error) {
	u, err := loginURL.Parse(sessionPath)
	if err != nil {
		return false, nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return false, nil, err
	}
	// Horizon's REST views answer only what its own JavaScript asks.
	req.Header.Set("X-Requested-With", "XMLHttpRequest")
	resp, err := c.Do(req)
	if err != nil {
		return false, nil, err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	ev = []string{fmt.Sprintf("GET %s: HTTP %d", u.Path, resp.StatusCode)}
	switch resp.StatusCode {
	case http.StatusOK:
		return true, ev, nil
	case http.StatusUnauthorized:
		return false, ev, fmt.Errorf("%w: Horizon does not know the session it just made (session backend)", ErrSessionLost)
	case http.StatusNotFound:
		return false, ev, nil
	}
	return false, ev, fmt.Errorf("%s: HTTP %d", u.Path, resp.StatusCode)
}

// LoginTries is how many dashboard logins the login check makes when its
// budget allows and Apache's configuration did not already rule out the
// known cause of lost logins: a login lost now and then (Horizon embedded
// in Apache's workers lost about 1 in 6) passes a single try most of the
// time. Where dashboard-wsgi-daemon read that Horizon runs in its daemon
// process, one login proves the session holds: the cause is read from the
// configuration, and each login costs keystone a password hash.
const LoginTries = 3

// startLogin begins the dashboard login when the run begins. It was the
// run's last check to end, started only after the page, memcached and
// keystone's checks had passed; a login that held proves the same when
// they pass too. One that failed proves nothing (right after memcached
// restarts Horizon answers 500 for a moment) and checkLogin tries again.
func (dr *doctor) startLogin(ctx context.Context) {
	if _, ok := dr.notDashboard(); ok {
		return
	}
	// The goroutine keeps its own login: a second run of the same checks
	// (doctor --fix's re-check) starts another while this one may still be
	// ending.
	e := &earlyLogin{done: make(chan struct{})}
	dr.early = e
	go func() {
		defer close(e.done)
		ctx, cancel := context.WithTimeout(ctx, 2*dr.cfg.probe())
		defer cancel()
		// The form it reads is the page the dashboard-page check grades:
		// one render of it per run, not two (Horizon renders it in the
		// process that then answers the login's POST). The page check
		// takes a 200, or a timeout (a hung Horizon would hang its own
		// GET as long); any other answer may have come too soon, and the
		// page check reads again once its dependencies passed.
		u := dr.loginURL()
		share := dr.gets.lead(getKey(u))
		p, err := dr.fetch(ctx, u, nil)
		share(p, err, err == nil && p.Status == http.StatusOK || err != nil && cloud.TimedOut(err))
		var first *Page
		if err == nil {
			first = &p
		}
		e.ev, e.err = DashboardLogin(ctx, dr.d.flow(), u, first, dr.cfg.AdminDomain, dr.cfg.AdminUser, dr.cfg.AdminPassword.Reveal())
	}()
}

// earlyLogin is the login startLogin made; ev and err are set before done
// closes.
type earlyLogin struct {
	done chan struct{}
	ev   []string
	err  error
}

// heldEarly waits for the early login, if there is one, and says whether
// it held its session.
func (dr *doctor) heldEarly(ctx context.Context) ([]string, bool) {
	if dr.early == nil {
		return nil, false
	}
	select {
	case <-dr.early.done:
		return dr.early.ev, dr.early.err == nil
	case <-ctx.Done():
		return nil, false
	}
}

func (dr *doctor) checkLogin(ctx context.Context) checks.Result {
	if r, ok := dr.notDashboard(); ok {
		return r
	}
	ctx, cancel := context.WithTimeout(ctx, 2*dr.cfg.probe())
	defer cancel()
	var ev []string
	held, lost := 0, 0
	tries := LoginTries
	if dr.horizonDaemon.Load() {
		tries = 1
	}
	begin := 0
	if tev, ok := dr.heldEarly(ctx); ok {
		ev, held, begin = tev, 1, 1
	}
	// The first try posts back the page the dashboard-page check read
	// (shared, so no request here); a later one reads its own.
	var first *Page
	if begin < tries {
		if p, err := dr.page(ctx, dr.loginURL(), nil); err == nil {
			first = &p
		}
	}
	for i := begin; i < tries; i++ {
		start := time.Now()
		tev, err := DashboardLogin(ctx, dr.d.flow(), dr.loginURL(), first, dr.cfg.AdminDomain, dr.cfg.AdminUser, dr.cfg.AdminPassword.Reveal())
		first = nil
		took := time.Since(start)
		switch {
		case err == nil:
			held++
		case errors.Is(err, ErrSessionLost):
			lost++
		case i > 0 && ctx.Err() != nil:
			// Out of budget mid-try: judge on the tries that finished.
		default:
			return loginFailure(append(ev, append(tev, err.Error())...), err)
		}
		if i == 0 {
			ev = tev
		}
		// Another try only if it fits in what is left, with room to spare.
		if dl, ok := ctx.Deadline(); ctx.Err() != nil || ok && time.Until(dl) < 2*took {
			break
		}
	}
	return LoginVerdict(dr.cfg.AdminUser, held, lost, ev)
}

// LoginVerdict grades repeated dashboard logins: held logins kept their
// session to the next page, lost ones bounced back to the login form.
// Some of each is the intermittent loss users describe as "sometimes it
// just throws me out".
func LoginVerdict(user string, held, lost int, ev []string) checks.Result {
	n := held + lost
	ev = append(ev, fmt.Sprintf("%d of %d logins held their session", held, n))
	switch {
	case lost == 0:
		return checks.Pass(fmt.Sprintf("logged in as %s %d time(s) and the session held each time", user, n), ev...)
	case held == 0:
		return loginFailure(ev, fmt.Errorf("%w: the page after login sent us back to the login form (session backend)", ErrSessionLost))
	}
	return checks.Failf(fmt.Sprintf("about %d of %d dashboard logins lost: the session did not hold after an accepted login (intermittent)", lost, n),
		"Horizon must keep sessions where every process sees them: SESSION_ENGINE cache with memcached CACHES (not LocMemCache) in "+
			strings.Join(HorizonSettingsFiles, " and ")+", and Horizon in its WSGI daemon (WSGIProcessGroup in its Apache site); tail -50 /var/log/apache2/error.log",
		ev...)
}

func loginFailure(ev []string, err error) checks.Result {
	fix := "tail -50 /var/log/apache2/error.log; check SESSION_ENGINE/CACHES in local_settings.py and memcached"
	if errors.Is(err, ErrLoginRefused) {
		fix = "check the admin password (/etc/stacklab/secrets.yaml) and OPENSTACK_KEYSTONE_URL; tail -50 /var/log/apache2/error.log"
	}
	return checks.Failf("dashboard login fails: "+err.Error(), fix, ev...)
}
