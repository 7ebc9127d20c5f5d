package doctor

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stacklab/stacklab/checks"
	"github.com/stacklab/stacklab/internal/cloud"
	"github.com/stacklab/stacklab/internal/cloud/cloudtest"
)

func runAll(t *testing.T, cfg Config, d Deps) checks.Report {
	t.Helper()
	rep, err := checks.Run(context.Background(), Checks(cfg, d), checks.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func assertNoLocalAdvice(t *testing.T, rep checks.Report) {
	t.Helper()
	for _, e := range rep.Entries {
		for _, bad := range []string{"systemctl", "/etc/"} {
			if strings.Contains(e.Fix, bad) {
				t.Errorf("%s: remote fix contains %q: %s", e.ID, bad, e.Fix)
			}
		}
	}
}

// Every way a remote cloud's keystone can fail gives advice for the
// cloud's operator: nothing to run on hosts the user cannot reach.
func TestRemoteFixesNeverLocal(t *testing.T) {
	dead := func() string { // a port nobody listens on
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		a := l.Addr().String()
		_ = l.Close()
		return "http://" + a + "/v3"
	}
	ks := func(code int, body string) string {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(code)
			_, _ = io.WriteString(w, body)
		}))
		t.Cleanup(srv.Close)
		return srv.URL + "/v3"
	}
	healthy := `{"version":{"id":"v3.14","status":"stable"}}`
	for _, tc := range []struct {
		name     string
		url      string
		cloudErr error
		failed   string
	}{
		{"keystone down", dead(), errors.New("unreachable"), IDKeystone},
		{"keystone answers 500", ks(500, "oops"), errors.New("x"), IDKeystone},
		{"no token", ks(200, healthy), errors.New("token request: HTTP 503"), IDKeystoneAuth},
		{"password refused", ks(200, healthy), &cloud.AuthError{Cloud: "c", Err: errors.New("401")}, IDKeystoneAuth},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := Config{KeystoneURL: tc.url, Probe: 500 * time.Millisecond}
			d := Deps{Cloud: func(context.Context) (*cloud.Cloud, error) { return nil, tc.cloudErr }}
			rep := runAll(t, cfg, d)
			e, _ := rep.Get(tc.failed)
			if e.Status != checks.Fail || e.Fix == "" {
				t.Fatalf("%s: want a failure with a fix, got %s %q", tc.failed, e.Status, e.Fix)
			}
			assertNoLocalAdvice(t, rep)
		})
	}
}

// The lab host's own fixes, whatever they are, never leak into remote
// phrasing: every fix a broken local lab produces is rephrased.
func TestRemoteFixRephrasesEveryLocalFix(t *testing.T) {
	w := newWorld(t)
	for _, u := range w.cfg.Units {
		w.deps.Units.(fakeUnits).states[u] = "failed"
	}
	w.cfg.KeystoneURL = "http://127.0.0.1:1/v3"
	w.deps.Host = fakeHost{run: func(string, ...string) ([]byte, error) { return nil, errors.New("down") }}
	rep := runAll(t, w.cfg, w.deps)
	n := 0
	for _, e := range rep.Entries {
		if e.Fix == "" {
			continue
		}
		n++
		r := RemoteFix("a check", checks.Result{Summary: e.Summary, Fix: e.Fix})
		if strings.Contains(r, "systemctl") || strings.Contains(r, "/etc/") {
			t.Errorf("%s: %q rephrased as %q", e.ID, e.Fix, r)
		}
	}
	if n < 5 {
		t.Fatalf("only %d fixes to rephrase: the broken world is not broken enough", n)
	}
	keep := "pass --cloud NAME (and OS_CLIENT_CONFIG_FILE)"
	if got := RemoteFix("t", checks.Result{Fix: keep}); got != keep {
		t.Errorf("advice the user can follow from here was rewritten: %q", got)
	}
}

// Checks the setup cannot run are skipped with its reason, and never
// reach the cloud: the list of checks that log in is complete.
func TestUnavailableChecksSkipAndNeverLogIn(t *testing.T) {
	w := newWorld(t)
	w.cfg.HandMade = true
	w.cfg.Unavailable = map[string]string{}
	const why = "no admin credentials: run `. admin-openrc` first, or pass --openrc FILE or --os-cloud NAME"
	for _, id := range NeedsCredentials {
		w.cfg.Unavailable[id] = why
	}
	w.deps.Cloud = func(context.Context) (*cloud.Cloud, error) {
		t.Error("a check logged in to the cloud though credentials are unavailable")
		return nil, errors.New("no")
	}
	rep := runAll(t, w.cfg, w.deps)
	for _, id := range NeedsCredentials {
		e, _ := rep.Get(id)
		if e.Status != checks.Skip || e.Summary != why {
			t.Errorf("%s: got %s %q", id, e.Status, e.Summary)
		}
	}
	if rep.Failed() {
		var b strings.Builder
		_ = rep.WriteText(&b, checks.TextOptions{})
		t.Errorf("a healthy hand-made lab without credentials must not fail:\n%s", b.String())
	}
}

// On a lab stacklab did not build, no fix sends the user to stacklab's
// installer, its repairs or its secrets file.
func TestHandMadeFixesNameNoStacklabTools(t *testing.T) {
	w := newWorld(t)
	w.cfg.HandMade = true
	for _, u := range w.cfg.Units {
		w.deps.Units.(fakeUnits).states[u] = "failed"
	}
	rep := runAll(t, w.cfg, w.deps)
	n := 0
	for _, e := range rep.Entries {
		if e.Fix != "" {
			n++
		}
		for _, bad := range []string{"stacklab install", "stacklab doctor --fix", "secrets.yaml"} {
			if strings.Contains(e.Fix, bad) {
				t.Errorf("%s: fix names %q: %s", e.ID, bad, e.Fix)
			}
		}
	}
	if n == 0 {
		t.Fatal("no fix at all: the broken world is not broken")
	}
	for _, tc := range []struct{ in, want string }{
		{"systemctl restart keystone   (or: stacklab doctor --fix); then journalctl -u keystone -n 50",
			"systemctl restart keystone; then journalctl -u keystone -n 50"},
		{"compare the password in clouds.yaml with /etc/stacklab/secrets.yaml; stacklab install --yes re-asserts it",
			"compare the password in clouds.yaml with your admin-openrc"},
		{"stacklab install --yes", "stacklab did not install this lab: follow your install guide's step for this service, and its logs (journalctl -u UNIT)"},
	} {
		if got := HandMadeFix(tc.in); got != tc.want {
			t.Errorf("HandMadeFix(%q)\n got %q\nwant %q", tc.in, got, tc.want)
		}
	}
}

// A remote cloud whose token and catalog work but whose services are
// missing or broken: the API checks fail, and their fixes are for the
// cloud's operator.
func TestRemoteAPIFixesNeverLocal(t *testing.T) {
	k := cloudtest.NewKeystone(t)
	hc := cloudtest.LoopbackClient()
	entry := cloud.CloudEntry{Name: "remote", AuthURL: k.AuthURL(), Username: cloudtest.AdminUser,
		Password: cloudtest.AdminPassword, ProjectName: cloudtest.AdminProject,
		UserDomainName: "Default", ProjectDomainName: "Default", RegionName: cloudtest.Region}
	// The fake keystone answers only with a token; its version document
	// comes from a second loopback server.
	version := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, `{"version":{"id":"v3.14","status":"stable"}}`)
	}))
	t.Cleanup(version.Close)
	cfg := Config{KeystoneURL: version.URL + "/v3", Probe: time.Second}
	d := Deps{HTTP: &hc, Cloud: func(ctx context.Context) (*cloud.Cloud, error) {
		return cloud.OpenEntry(ctx, entry, "test", &hc)
	}}
	rep := runAll(t, cfg, d)
	if e, _ := rep.Get(IDKeystoneAuth); e.Status != checks.OK {
		t.Fatalf("keystone-auth: %s %s %v", e.Status, e.Summary, e.Evidence)
	}
	failed := 0
	for _, id := range []string{IDGlance, IDPlacement, IDNova, IDNeutron} {
		if e, _ := rep.Get(id); e.Status == checks.Fail && e.Fix != "" {
			failed++
		}
	}
	if failed == 0 {
		t.Fatal("no API check failed: the test proves nothing")
	}
	assertNoLocalAdvice(t, rep)
}

func TestPlanHandMadeOnlyRestartsFailedUnits(t *testing.T) {
	w := newWorld(t)
	w.cfg.HandMade = true
	st := w.deps.Units.(fakeUnits).states
	st["rabbitmq-server"], st["apache2"] = "failed", "failed"
	w.cfg.KeystoneURL = "http://127.0.0.1:1/v3" // keystone down too: no repair for it
	rep := runAll(t, w.cfg, w.deps)
	var got []string
	plan := PlanHandMade(rep, w.cfg, func(_ context.Context, u string) error { got = append(got, u); return nil }, nil)
	for _, r := range plan {
		if err := r.Run(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if strings.Join(got, " ") != "rabbitmq-server apache2" {
		t.Errorf("restarted %v, want the failed units in start order", got)
	}
}

type siteEditRepairer struct {
	calls   int
	changed bool
}

func (f *siteEditRepairer) DelegateHorizonWSGI(context.Context) (bool, error) {
	f.calls++
	return f.changed, nil
}

// On a hand-made lab --fix may edit Horizon's site: the two lines it adds
// are shown before it is asked for, and apache2 restarts only when the
// file changed.
func TestPlanHandMadeShowsTheHorizonSiteEdit(t *testing.T) {
	site := "/etc/apache2/sites-enabled/openstack-dashboard-alias-only.conf"
	dirs := ParseApache(site, []byte("WSGIScriptAlias /horizon /usr/share/openstack-dashboard/wsgi.py\nWSGIDaemonProcess horizon user=www-data group=www-data\n"))
	res, p := HorizonWSGIVerdict(dirs)
	if p == nil {
		t.Fatalf("no plan for Debian's site: %+v", res)
	}
	// As the report carries it on a hand-made lab: stacklab's advice
	// dropped, the lines' indent trimmed.
	res.Fix = HandMadeFix(res.Fix)
	rep := checks.Report{Entries: []checks.Entry{{ID: IDHorizonWSGI, Result: res}}}
	for _, changed := range []bool{true, false} {
		var restarted []string
		wf := &siteEditRepairer{changed: changed}
		plan := PlanHandMade(rep, Config{}, func(_ context.Context, u string) error { restarted = append(restarted, u); return nil }, wf)
		if len(plan) != 1 || plan[0].For != IDHorizonWSGI {
			t.Fatalf("plan %+v", plan)
		}
		want := "  add after line 2 of " + site + "\n  + WSGIProcessGroup horizon\n  + WSGIApplicationGroup %{GLOBAL}"
		if !strings.HasSuffix(plan[0].Description, want) || !strings.Contains(plan[0].Description, HorizonBackupSuffix) {
			t.Errorf("description %q does not end with the diff %q", plan[0].Description, want)
		}
		if err := plan[0].Run(context.Background()); err != nil {
			t.Fatal(err)
		}
		if wf.calls != 1 || (len(restarted) == 1) != changed {
			t.Errorf("changed=%v: edits %d, restarted %v", changed, wf.calls, restarted)
		}
	}
	// Without a repairer (or a healthy site) nothing is planned.
	if plan := PlanHandMade(rep, Config{}, nil, nil); len(plan) != 0 {
		t.Errorf("plan without a repairer: %+v", plan)
	}
}
