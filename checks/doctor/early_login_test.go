package doctor

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stacklab/stacklab/checks"
)

// postWatch tells when the first login POST reached Horizon, and can fail
// the first ones with HTTP 500 as Horizon does right after memcached
// restarts.
type postWatch struct {
	h        http.Handler
	once     sync.Once
	posted   chan struct{}
	fail     atomic.Int32
	failures atomic.Int32
}

func (p *postWatch) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodPost {
		p.once.Do(func() { close(p.posted) })
		if p.fail.Add(-1) >= 0 {
			p.failures.Add(1)
			http.Error(w, "Server Error (500)", http.StatusInternalServerError)
			return
		}
	}
	p.h.ServeHTTP(w, r)
}

// watchedWorld is a world whose Horizon is behind a postWatch that fails
// the first fail POSTs, and whose systemd answers only once a login was
// posted (or after a second).
func watchedWorld(t *testing.T, fail int32) (*world, *postWatch, *atomic.Bool) {
	w := newWorld(t)
	p := &postWatch{h: w.horizon, posted: make(chan struct{})}
	p.fail.Store(fail)
	srv := httptest.NewServer(p)
	t.Cleanup(srv.Close)
	w.cfg.HorizonURL = srv.URL + "/horizon"
	w.cfg.Probe = 2 * time.Second
	var before atomic.Bool
	w.deps.Units = gatedUnits{fakeUnits: fakeUnits{states: map[string]string{}}, started: p.posted, before: &before}
	return w, p, &before
}

// The login starts with the run, beside the checks it depends on (the
// units, Apache, the page, memcached), and a login that held is the
// check's first try.
func TestEarlyLoginOverlapsItsDependencies(t *testing.T) {
	w, _, before := watchedWorld(t, 0)
	rep := w.run(t)
	if !before.Load() {
		t.Error("no login had been posted when systemd's unit states were answered")
	}
	e, _ := rep.Get(IDDashboardLogin)
	if e.Status != checks.OK {
		t.Fatalf("login: %s %q %q", e.Status, e.Summary, e.Evidence)
	}
	if n := w.horizon.logins; n != LoginTries {
		t.Errorf("%d logins, want %d: the early one counted as the first try", n, LoginTries)
	}
}

// A login that failed early proves nothing: it may have come before
// Horizon could answer (HTTP 500 right after memcached restarted). The
// check tries again once its dependencies passed, and grades that.
func TestEarlyLoginThatFailedIsTriedAgain(t *testing.T) {
	w, p, _ := watchedWorld(t, 1)
	rep := w.run(t)
	if n := p.failures.Load(); n != 1 {
		t.Fatalf("%d logins failed, want the early one", n)
	}
	e, _ := rep.Get(IDDashboardLogin)
	if e.Status != checks.OK || !strings.Contains(e.Summary, "3 time(s)") {
		t.Errorf("login: %s %q %q, want a pass from three later tries", e.Status, e.Summary, e.Evidence)
	}
}

// Horizon failing every login is still the login check's failure.
func TestEarlyLoginFailureStillFails(t *testing.T) {
	w, _, _ := watchedWorld(t, 100)
	rep := w.run(t)
	e, _ := rep.Get(IDDashboardLogin)
	if e.Status != checks.Fail {
		t.Errorf("login: %s %q, want a failure", e.Status, e.Summary)
	}
}

// No login is made when the user skips the check or it cannot run.
func TestNoEarlyLoginWhenTheCheckDoesNotRun(t *testing.T) {
	for _, tt := range []struct {
		name string
		prep func(*world) checks.Options
	}{
		{"skipped by the user", func(*world) checks.Options { return checks.Options{Skip: []string{IDDashboardLogin}} }},
		{"unavailable", func(w *world) checks.Options {
			w.cfg.Unavailable = map[string]string{IDDashboardLogin: "no admin credentials"}
			return checks.Options{}
		}},
		{"a dependency failed", func(w *world) checks.Options {
			w.deps.Units = fakeUnits{states: map[string]string{"memcached": "failed"}}
			return checks.Options{}
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t)
			opts := tt.prep(w)
			opts.Skip = append(opts.Skip, IDKeystoneAuth, IDCatalog, IDGlance, IDPlacement, IDNova, IDNeutron,
				IDComputeServices, IDCellMapping, IDPlacementInv, IDNetworkAgents, IDConsole)
			rep, err := checks.Run(context.Background(), Checks(w.cfg, w.deps), opts)
			if err != nil {
				t.Fatal(err)
			}
			e, _ := rep.Get(IDDashboardLogin)
			if e.Status != checks.Skip {
				t.Errorf("login: %s %q, want skipped", e.Status, e.Summary)
			}
			if tt.name != "a dependency failed" && w.horizon.logins != 0 {
				t.Errorf("%d logins posted, want none", w.horizon.logins)
			}
		})
	}
}

// firstGetFails answers the first GET of the login form with HTTP 500, as
// Horizon does for a moment after memcached restarts.
type firstGetFails struct {
	h      http.Handler
	once   sync.Once
	hit    atomic.Bool
	served chan struct{}
}

func (f *firstGetFails) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodGet && r.URL.Path == "/horizon/auth/login/" {
		failed := false
		f.once.Do(func() { failed = true })
		if failed {
			f.hit.Store(true)
			http.Error(w, "Server Error (500)", http.StatusInternalServerError)
			close(f.served)
			return
		}
	}
	f.h.ServeHTTP(w, r)
}

// The early login's form is the page check's only when it answered 200:
// a 500 that came with the run's start is not the page's verdict, which
// is read again once Apache and memcached passed.
func TestEarlyFormThatFailedIsNotThePagesVerdict(t *testing.T) {
	w := newWorld(t)
	f := &firstGetFails{h: w.horizon, served: make(chan struct{})}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	w.cfg.HorizonURL = srv.URL + "/horizon"
	// systemd answers once the 500 was served, so the page check, behind
	// the unit checks, comes after the early login's GET.
	var before atomic.Bool
	w.deps.Units = gatedUnits{fakeUnits: fakeUnits{states: map[string]string{}}, started: f.served, before: &before}
	rep := w.run(t)
	if !f.hit.Load() || !before.Load() {
		t.Fatal("the early login's GET of the form was not the one answered 500")
	}
	for _, id := range []string{IDDashboardPage, IDDashboardLogin} {
		if e, _ := rep.Get(id); e.Status != checks.OK {
			t.Errorf("%s: %s %q %q, want a pass", id, e.Status, e.Summary, e.Evidence)
		}
	}
}
