package doctor

// The fake lab doctor's tests run against: systemd, the host's files and
// commands, a Django-like Horizon, and the world that puts them together.

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/http/httptest"
	"path"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stacklab/stacklab/checks"
	"github.com/stacklab/stacklab/internal/cloud"
	"github.com/stacklab/stacklab/internal/nettest"
	"github.com/stacklab/stacklab/internal/systemd"
)

type fakeUnits struct {
	states map[string]string // unit -> active state
	pids   map[string]uint32 // unit -> main PID (0 when absent)
}

// healthyMySQL is what mysql prints for the doctor's connections query on a
// lab with connections to spare.
const healthyMySQL = "max_connections\t4096\nMax_used_connections\t20\nThreads_connected\t12\n"

func (f fakeUnits) States(_ context.Context, units ...string) ([]systemd.UnitState, error) {
	var out []systemd.UnitState
	for _, u := range units {
		st := f.states[u]
		if st == "" {
			st = "active"
		}
		out = append(out, systemd.UnitState{Name: u + ".service", LoadState: "loaded", ActiveState: st, SubState: "x", MainPID: f.pids[u]})
	}
	return out, nil
}

func (f fakeUnits) JournalTail(_ context.Context, unit string, _ int) ([]string, error) {
	return []string{unit + ": last words"}, nil
}

type fakeHost struct {
	files map[string]string
	run   func(name string, args ...string) ([]byte, error)
	// denied are files a directory lists but this user cannot read.
	denied map[string]bool
}

func (h fakeHost) DiskUsage(string) (float64, error) { return 50, nil }
func (h fakeHost) ReadFile(p string) ([]byte, error) {
	if h.denied[p] {
		return nil, &fs.PathError{Op: "open", Path: p, Err: fs.ErrPermission}
	}
	if s, ok := h.files[p]; ok {
		return []byte(s), nil
	}
	return nil, &fs.PathError{Op: "open", Path: p, Err: fs.ErrNotExist}
}

// Readlink serves a file's content as the link's target (a descriptor:
// "/proc/PID/fd/N" → "socket:[INODE]").
func (h fakeHost) Readlink(p string) (string, error) {
	if s, ok := h.files[p]; ok {
		return s, nil
	}
	return "", &fs.PathError{Op: "readlink", Path: p, Err: fs.ErrNotExist}
}
func (h fakeHost) ReadDir(dir string) ([]string, error) {
	var names []string
	for p := range h.files {
		if path.Dir(p) == dir && !h.denied[p] {
			names = append(names, path.Base(p))
		}
	}
	for p := range h.denied {
		if path.Dir(p) == dir {
			names = append(names, path.Base(p))
		}
	}
	sort.Strings(names)
	return names, nil
}
func (h fakeHost) Run(_ context.Context, name string, args ...string) ([]byte, error) {
	if h.run != nil {
		return h.run(name, args...)
	}
	switch name {
	case "mysql":
		return []byte(healthyMySQL), nil
	case "apache2ctl":
		return []byte("Syntax OK\n"), nil
	}
	return nil, errors.New("unexpected command " + name)
}

// fakeHorizon is a Django-like login: CSRF cookie and token, a session
// cookie stored in sessions (the "memcached"), redirect to the project page.
type fakeHorizon struct {
	mu         sync.Mutex
	sessions   map[string]bool
	loseAll    bool // the session backend forgets everything
	allowed    string
	password   string
	staticCode int
	noStatic   bool // the static files are gone: Apache answers 404
	// domain: the form asks for the user's domain (the install guide's
	// OPENSTACK_KEYSTONE_MULTIDOMAIN_SUPPORT) and wants this one.
	domain string
	logins int  // POSTs to the login form
	noREST bool // an old Horizon without its REST API
}

func (h *fakeHorizon) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	defer h.mu.Unlock()
	host, _, _ := net.SplitHostPort(r.Host)
	if host != h.allowed {
		http.Error(w, "Bad Request (400)", http.StatusBadRequest)
		return
	}
	switch {
	case strings.HasPrefix(r.URL.Path, "/horizon/static/"):
		if h.noStatic {
			http.NotFound(w, r)
			return
		}
		if h.staticCode != 0 {
			http.Error(w, "OfflineGenerationError: manifest", h.staticCode)
			return
		}
		// As Apache does, a Range asks for part of the file (206).
		http.ServeContent(w, r, path.Base(r.URL.Path), time.Time{}, strings.NewReader(strings.Repeat("body{}", 400)))
	case r.URL.Path == "/horizon/auth/login/" && r.Method == http.MethodGet:
		http.SetCookie(w, &http.Cookie{Name: "csrftoken", Value: "CSRF", Path: "/"})
		_, _ = io.WriteString(w, `<link href="/horizon/static/a.css"><script src="/horizon/static/b.js"></script>
<input type="hidden" name="csrfmiddlewaretoken" value="FORMTOKEN"><input type="hidden" name="region" value="http://k:5000/v3">`)
		if h.domain != "" {
			_, _ = io.WriteString(w, `<input type="text" name="domain" id="id_domain" autofocus="autofocus" class="form-control">`)
		}
	case r.URL.Path == "/horizon/auth/login/" && r.Method == http.MethodPost:
		h.logins++
		c, err := r.Cookie("csrftoken")
		if err != nil || c.Value != "CSRF" || r.FormValue("csrfmiddlewaretoken") != "FORMTOKEN" {
			http.Error(w, "CSRF verification failed", http.StatusForbidden)
			return
		}
		if r.FormValue("username") != "admin" || r.FormValue("password") != h.password || r.FormValue("region") == "" ||
			r.FormValue("domain") != h.domain {
			_, _ = io.WriteString(w, "Invalid credentials.")
			return
		}
		h.sessions["S1"] = !h.loseAll
		http.SetCookie(w, &http.Cookie{Name: "sessionid", Value: "S1", Path: "/"})
		http.Redirect(w, r, "/horizon/", http.StatusFound)
	case r.URL.Path == "/horizon/":
		http.Redirect(w, r, "/horizon/project/", http.StatusFound)
	case r.URL.Path == "/horizon/api/keystone/user-session/" && !h.noREST:
		if r.Header.Get("X-Requested-With") != "XMLHttpRequest" {
			http.Error(w, `"request must be AJAX"`, http.StatusBadRequest)
			return
		}
		if c, err := r.Cookie("sessionid"); err != nil || !h.sessions[c.Value] {
			http.Error(w, `"not logged in"`, http.StatusUnauthorized)
			return
		}
		_, _ = io.WriteString(w, `{"username": "admin"}`)
	case r.URL.Path == "/horizon/project/":
		if c, err := r.Cookie("sessionid"); err != nil || !h.sessions[c.Value] {
			http.Redirect(w, r, "/horizon/auth/login/?next=/horizon/project/", http.StatusFound)
			return
		}
		_, _ = io.WriteString(w, "Overview")
	default:
		http.NotFound(w, r)
	}
}

// world is a whole fake lab for Checks: systemd, files, commands,
// memcached, RabbitMQ, keystone's version document and Horizon.
type world struct {
	cfg     Config
	deps    Deps
	horizon *fakeHorizon
}

func newWorld(t *testing.T) *world {
	t.Helper()
	h := &fakeHorizon{sessions: map[string]bool{}, allowed: "127.0.0.1", password: "pw"}
	mux := http.NewServeMux()
	mux.HandleFunc("/v3", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, `{"version":{"id":"v3.14","status":"stable"}}`)
	})
	mux.Handle("/horizon/", h)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	mc := nettest.Serve(t, fakeMemcached)
	rabbit := nettest.Serve(t, fakeBroker("openstack", "rpw"))
	w := &world{horizon: h}
	w.cfg = Config{
		Lab: true, MgmtIP: "127.0.0.1", Hostname: "lab",
		Units:       []string{"mariadb", "rabbitmq-server", "memcached", "keystone", "apache2"},
		KeystoneURL: srv.URL + "/v3", HorizonURL: srv.URL + "/horizon",
		AdminUser: "admin", AdminPassword: "pw",
		RabbitUser: "openstack", RabbitPassword: "rpw", RabbitAddr: rabbit,
		DiskPaths: []string{"/"}, Probe: 500 * time.Millisecond,
	}
	w.deps = Deps{
		Units: fakeUnits{states: map[string]string{}},
		Host: fakeHost{files: map[string]string{
			HorizonSettingsFiles[1]:                      "CACHES = {'default': {'LOCATION': '" + mc + "'}}\n",
			"/etc/openstack-dashboard/local_settings.py": "OPENSTACK_KEYSTONE_URL = \"" + srv.URL + "/v3\"\n",
		}},
		HTTP:  srv.Client(),
		Cloud: func(context.Context) (*cloud.Cloud, error) { return nil, errors.New("no cloud in this test") },
	}
	return w
}

// run runs the checks that do not need a cloud (API checks are skipped).
func (w *world) run(t *testing.T) checks.Report {
	t.Helper()
	skip := []string{IDKeystoneAuth, IDCatalog, IDGlance, IDPlacement, IDNova, IDNeutron,
		IDComputeServices, IDCellMapping, IDPlacementInv, IDNetworkAgents, IDConsole}
	rep, err := checks.Run(context.Background(), Checks(w.cfg, w.deps), checks.Options{Skip: skip})
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func status(rep checks.Report, id string) (checks.Status, []string) {
	e, _ := rep.Get(id)
	return e.Status, e.RootCauses
}
