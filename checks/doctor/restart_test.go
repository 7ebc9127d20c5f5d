package doctor

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// daemonUnits stands for apache2 and its WSGI daemon: each restart starts a
// daemon that, per hangs, accepts requests and never answers, or answers.
type daemonUnits struct {
	mu       sync.Mutex
	hangs    []bool // by restart; past the end: answers
	restarts []string
	asked    int
}

func (d *daemonUnits) Restart(_ context.Context, u string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.restarts = append(d.restarts, u)
	return nil
}

func (d *daemonUnits) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	d.mu.Lock()
	d.asked++
	n := len(d.restarts)
	hang := n > 0 && n <= len(d.hangs) && d.hangs[n-1]
	d.mu.Unlock()
	if hang {
		<-r.Context().Done()
		return
	}
	// Any answer will do: judging it is the checks' work.
	http.Error(w, "Bad Request (400)", http.StatusBadRequest)
}

// A fresh Horizon daemon that never answers is restarted once more; one
// that answers is not; other units, or no dashboard known, are restarted
// without a wait.
func TestRestarterWaitsForTheDashboard(t *testing.T) {
	for _, tc := range []struct {
		name, unit string
		noURL      bool
		hangs      []bool
		want       int
		err        string
	}{
		{"answers at once", "apache2", false, nil, 1, ""},
		{"hangs, then answers after a second restart", "apache2", false, []bool{true}, 2, ""},
		{"hangs after both restarts", "apache2", false, []bool{true, true}, 2, "restarted apache2 twice and the dashboard still does not answer"},
		{"another unit", "keystone", false, []bool{true}, 1, ""},
		{"no dashboard known", "apache2", true, []bool{true}, 1, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := &daemonUnits{hangs: tc.hangs}
			srv := httptest.NewServer(d)
			t.Cleanup(srv.Close)
			var notes []string
			r := Restarter{Units: d, Dashboard: srv.URL + "/horizon/auth/login/", Wait: 300 * time.Millisecond, Poll: 20 * time.Millisecond,
				Note: func(s string) { notes = append(notes, s) }}
			if tc.noURL {
				r.Dashboard = ""
			}
			err := r.Restart(context.Background(), tc.unit)
			srv.Close() // waits for the handlers: the counts are final
			d.mu.Lock()
			defer d.mu.Unlock()
			if len(d.restarts) != tc.want {
				t.Errorf("%d restarts, want %d", len(d.restarts), tc.want)
			}
			if (err == nil) != (tc.err == "") || err != nil && !strings.Contains(err.Error(), tc.err) {
				t.Errorf("error %v, want %q", err, tc.err)
			}
			if len(notes) != tc.want-1 {
				t.Errorf("notes %q: the second restart must be told, and only it", notes)
			}
			if asked := d.asked > 0; asked != (tc.unit == "apache2" && !tc.noURL) {
				t.Errorf("dashboard asked %d times", d.asked)
			}
		})
	}
}
