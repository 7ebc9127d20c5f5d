package doctor

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stacklab/stacklab/checks"
)

// intermittentHorizon loses the session of every second login.
type intermittentHorizon struct {
	*fakeHorizon
	n int
}

func (h *intermittentHorizon) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodPost {
		h.mu.Lock()
		h.n++
		h.loseAll = h.n%2 == 0
		h.mu.Unlock()
	}
	h.fakeHorizon.ServeHTTP(w, r)
}

func TestLoginCountsLostLogins(t *testing.T) {
	for _, tt := range []struct {
		name         string
		intermittent bool
		loseAll      bool
		status       checks.Status
		want         string
	}{
		{"all held", false, false, checks.OK, "3 time(s) and the session held each time"},
		{"one in two lost", true, false, checks.Fail, "about 1 of 3 dashboard logins lost"},
		{"all lost", false, true, checks.Fail, "dashboard login fails: the session did not hold"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t)
			w.cfg.Probe = 5 * time.Second // room for three tries on a slow test machine
			w.horizon.loseAll = tt.loseAll
			var hh http.Handler = w.horizon
			if tt.intermittent {
				hh = &intermittentHorizon{fakeHorizon: w.horizon}
			}
			srv := httptest.NewServer(hh)
			defer srv.Close()
			w.cfg.HorizonURL = srv.URL + "/horizon"
			dr := &doctor{cfg: w.cfg, d: w.deps}
			r := dr.checkLogin(context.Background())
			if r.Status != tt.status || !strings.Contains(r.Summary, tt.want) {
				t.Errorf("%s %q %q", r.Status, r.Summary, r.Evidence)
			}
		})
	}
}

func TestLoginVerdict(t *testing.T) {
	if r := LoginVerdict("admin", 1, 0, nil); r.Status != checks.OK || !strings.Contains(r.Evidence[0], "1 of 1") {
		t.Errorf("one held: %+v", r)
	}
	if r := LoginVerdict("admin", 5, 1, nil); r.Status != checks.Fail || !strings.Contains(r.Summary, "about 1 of 6") || !strings.Contains(r.Fix, "WSGIProcessGroup") {
		t.Errorf("1 of 6 lost: %+v", r)
	}
}

// slowHorizon takes delay to answer what a login reads after its POST (the
// session's REST view, or the landing page), as Horizon does on a loaded
// 2-core host.
type slowHorizon struct {
	*fakeHorizon
	delay time.Duration
}

func (h *slowHorizon) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/horizon/project/" || r.URL.Path == "/horizon/api/keystone/user-session/" {
		select {
		case <-time.After(h.delay):
		case <-r.Context().Done():
			return
		}
	}
	h.fakeHorizon.ServeHTTP(w, r)
}

// A page slower than one probe's answer time fails a probe, yet the login
// passes while the whole login fits its budget; a page that never comes
// still fails it.
func TestLoginJudgesTheWholeLoginNotEachPage(t *testing.T) {
	probe := &http.Client{Transport: &http.Transport{ResponseHeaderTimeout: 100 * time.Millisecond}}
	for _, tt := range []struct {
		name   string
		delay  time.Duration
		flow   *http.Client
		status checks.Status
		want   string
	}{
		{"slow page, login flow", 300 * time.Millisecond, &http.Client{}, checks.OK, "logged in as admin"},
		{"slow page, probe client", 300 * time.Millisecond, nil, checks.Fail, "timeout awaiting response headers"},
		{"hung page", time.Minute, &http.Client{}, checks.Fail, "dashboard login fails"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t)
			w.cfg.Probe = 500 * time.Millisecond // a 1 s login budget
			srv := httptest.NewServer(&slowHorizon{fakeHorizon: w.horizon, delay: tt.delay})
			defer srv.Close()
			w.cfg.HorizonURL = srv.URL + "/horizon"
			w.deps.HTTP, w.deps.Flow = probe, tt.flow
			dr := &doctor{cfg: w.cfg, d: w.deps}
			start := time.Now()
			r := dr.checkLogin(context.Background())
			if r.Status != tt.status || !strings.Contains(r.Summary, tt.want) {
				t.Errorf("%s %q %q", r.Status, r.Summary, r.Evidence)
			}
			if took := time.Since(start); took > 5*time.Second {
				t.Errorf("the login check took %s, past its budget", took)
			}
		})
	}
}

// The static check reads only the start of each asset: Apache answers
// the Range with 206, which proves it serves the file.
func TestStaticAssetsReadInPart(t *testing.T) {
	w := newWorld(t)
	e, _ := w.run(t).Get(IDDashboardStatic)
	ev := strings.Join(e.Evidence, " ")
	if e.Status != checks.OK || strings.Count(ev, "HTTP 206, 1024 bytes read") != 2 {
		t.Errorf("dashboard-static = %s %q %v", e.Status, e.Summary, e.Evidence)
	}
}
