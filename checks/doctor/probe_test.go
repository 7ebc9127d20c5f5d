package doctor

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stacklab/stacklab/checks"
	"github.com/stacklab/stacklab/internal/cloud"
	"github.com/stacklab/stacklab/internal/nettest"
)

func longstr(b *bytes.Buffer, s string) {
	_ = binary.Write(b, binary.BigEndian, uint32(len(s)))
	b.WriteString(s)
}

// fakeBroker speaks just enough AMQP 0-9-1 to accept user/password.
func fakeBroker(user, password string) func(net.Conn) {
	return func(c net.Conn) {
		hdr := make([]byte, 8)
		if _, err := io.ReadFull(c, hdr); err != nil || string(hdr) != "AMQP\x00\x00\x09\x01" {
			return
		}
		var props bytes.Buffer
		props.WriteByte(7)
		props.WriteString("product")
		props.WriteByte('S')
		longstr(&props, "RabbitMQ")
		props.WriteByte(7)
		props.WriteString("version")
		props.WriteByte('S')
		longstr(&props, "3.10.8")
		var start bytes.Buffer
		_ = binary.Write(&start, binary.BigEndian, []uint16{10, 10})
		start.Write([]byte{0, 9})
		longstr(&start, props.String())
		longstr(&start, "PLAIN AMQPLAIN")
		longstr(&start, "en_US")
		_ = writeFrame(c, start.Bytes())
		class, method, payload, err := readMethod(bufio.NewReader(c))
		if err != nil || class != 10 || method != 11 {
			return
		}
		// client-properties table, mechanism, response
		n := binary.BigEndian.Uint32(payload[0:4])
		p := payload[4+n:]
		mech := string(p[1 : 1+p[0]])
		p = p[1+p[0]:]
		rn := binary.BigEndian.Uint32(p[0:4])
		resp := string(p[4 : 4+rn])
		if mech != "PLAIN" || resp != "\x00"+user+"\x00"+password {
			// RabbitMQ answers a refused login with connection.close
			// when the client says authentication_failure_close; else it
			// closes the socket 3 s later, here: never.
			if !bytes.Contains(payload[4:4+n], []byte("\x1cauthentication_failure_closet\x01")) {
				_, _ = io.Copy(io.Discard, c)
				return
			}
			var closeM bytes.Buffer
			_ = binary.Write(&closeM, binary.BigEndian, []uint16{10, 50, 403})
			shortstr(&closeM, "ACCESS_REFUSED - Login was refused using authentication mechanism PLAIN")
			_ = binary.Write(&closeM, binary.BigEndian, []uint16{0, 0})
			_ = writeFrame(c, closeM.Bytes())
			return
		}
		var tune bytes.Buffer
		_ = binary.Write(&tune, binary.BigEndian, []uint16{10, 30, 2047})
		_ = binary.Write(&tune, binary.BigEndian, uint32(131072))
		_ = binary.Write(&tune, binary.BigEndian, uint16(60))
		_ = writeFrame(c, tune.Bytes())
		_, _ = io.Copy(io.Discard, c)
	}
}

func TestAMQPLogin(t *testing.T) {
	addr := nettest.Serve(t, fakeBroker("openstack", "s3cret"))
	for _, tt := range []struct {
		pw      string
		wantErr error
	}{{"s3cret", nil}, {"wrong", ErrAMQPAuth}} {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		server, err := AMQPLogin(c, "openstack", tt.pw)
		c.Close()
		if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
			t.Errorf("password %q: err %v, want %v", tt.pw, err, tt.wantErr)
		}
		if server != "RabbitMQ 3.10.8" {
			t.Errorf("server %q", server)
		}
	}
}

func fakeMemcached(c net.Conn) {
	sc := bufio.NewScanner(c)
	for sc.Scan() {
		if strings.TrimSpace(sc.Text()) == "stats" {
			_, _ = io.WriteString(c, "STAT pid 1\r\nSTAT uptime 5\r\nEND\r\n")
		}
	}
}

func TestDashboardLogin(t *testing.T) {
	for _, tt := range []struct {
		name     string
		password string
		loseAll  bool
		noREST   bool // Horizon without its REST view of the session
		// formDomain is the domain the form asks for ("" = no domain
		// field); domain the one doctor knows.
		formDomain, domain string
		want               string
	}{
		{"ok", "pw", false, false, "", "", ""},
		{"wrong password", "nope", false, false, "", "", "Invalid credentials"},
		{"session lost", "pw", true, false, "", "", "session did not hold"},
		{"session lost, no REST view: the landing page says so", "pw", true, true, "", "", "session did not hold"},
		{"ok without the REST view", "pw", false, true, "", "", ""},
		{"the form asks for the domain", "pw", false, false, "Default", "", ""},
		{"the admin's own domain", "pw", false, false, "labs", "labs", ""},
		{"a domain the form does not ask for is not sent", "pw", false, false, "", "labs", ""},
	} {
		// Each case twice: reading the login page itself, and posting back
		// the page another check read (its CSRF cookie and token), with
		// no GET of its own.
		for _, shared := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/shared page %v", tt.name, shared), func(t *testing.T) {
				h := &fakeHorizon{sessions: map[string]bool{}, allowed: "127.0.0.1", password: "pw", loseAll: tt.loseAll, domain: tt.formDomain, noREST: tt.noREST}
				var pageGETs atomic.Int32
				srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					if r.Method == http.MethodGet && r.URL.Path == "/horizon/auth/login/" {
						pageGETs.Add(1)
					}
					h.ServeHTTP(w, r)
				}))
				defer srv.Close()
				loginURL := srv.URL + "/horizon/auth/login/"
				var first *Page
				if shared {
					resp, err := srv.Client().Get(loginURL)
					if err != nil {
						t.Fatal(err)
					}
					body, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					first = &Page{Status: resp.StatusCode, Body: body, Cookies: resp.Cookies()}
					pageGETs.Store(0)
				}
				ev, err := DashboardLogin(context.Background(), srv.Client(), loginURL, first, tt.domain, "admin", tt.password)
				if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
					t.Errorf("err %v, want %q; evidence %v", err, tt.want, ev)
				}
				if want := map[bool]int32{false: 1, true: 0}[shared]; pageGETs.Load() != want {
					t.Errorf("the login page was read %d times by the login, want %d", pageGETs.Load(), want)
				}
			})
		}
	}
}

func TestChecksHealthyWorld(t *testing.T) {
	w := newWorld(t)
	rep := w.run(t)
	for _, id := range []string{IDLabHost, IDDisk, UnitID("memcached"), IDMariaDB, IDRabbitMQ, IDMemcached, IDKeystone,
		IDApache, IDDashboardPage, IDDashboardStatic, IDDashboardKeystone} {
		if s, _ := status(rep, id); s != checks.OK {
			e, _ := rep.Get(id)
			t.Errorf("%s: %s %s %v", id, s, e.Summary, e.Evidence)
		}
	}
	if rep.Failed() {
		var b strings.Builder
		_ = rep.WriteText(&b, checks.TextOptions{})
		t.Errorf("healthy world failed:\n%s", b.String())
	}
}

func TestRootCauses(t *testing.T) {
	tests := []struct {
		name   string
		break_ func(w *world)
		root   string
		skips  []string // checks skipped naming root
		fix    string   // the root's fix contains this
	}{
		{"memcached stopped", func(w *world) { w.deps.Units.(fakeUnits).states["memcached"] = "failed" },
			UnitID("memcached"), []string{IDMemcached, IDKeystone, IDDashboardLogin, IDDashboardKeystone}, ""},
		{"mariadb stopped", func(w *world) { w.deps.Units.(fakeUnits).states["mariadb"] = "inactive" },
			UnitID("mariadb"), []string{IDMariaDB, IDKeystone}, ""},
		{"apache stopped", func(w *world) { w.deps.Units.(fakeUnits).states["apache2"] = "failed" },
			UnitID("apache2"), []string{IDApache, IDDashboardPage, IDDashboardStatic, IDDashboardLogin}, ""},
		{"ALLOWED_HOSTS", func(w *world) { w.horizon.allowed = "10.9.9.9" },
			IDDashboardPage, []string{IDDashboardStatic, IDDashboardLogin}, ""},
		{"static 500", func(w *world) { w.horizon.staticCode = 500 }, IDDashboardStatic, nil, ""},
		{"memcached moved", func(w *world) {
			w.deps.Host.(fakeHost).files[HorizonSettingsFiles[1]] = "CACHES = {'default': {'LOCATION': '127.0.0.1:1'}}\n"
		}, IDMemcached, []string{IDKeystone, IDDashboardLogin}, ""},
		{"mysql refuses", func(w *world) {
			h := w.deps.Host.(fakeHost)
			h.run = func(name string, _ ...string) ([]byte, error) {
				if name == "mysql" {
					return []byte("ERROR 2002 (HY000): Can't connect"), errors.New("exit status 1")
				}
				return []byte("Syntax OK"), nil
			}
			w.deps.Host = h
		}, IDMariaDB, []string{IDKeystone}, ""},
		{"mysql answers something else", func(w *world) {
			h := w.deps.Host.(fakeHost)
			h.run = func(name string, _ ...string) ([]byte, error) {
				if name == "mysql" {
					return []byte("1\n"), nil
				}
				return []byte("Syntax OK"), nil
			}
			w.deps.Host = h
		}, IDMariaDB, []string{IDKeystone}, ""},
		{"rabbit wrong password", func(w *world) { w.cfg.RabbitPassword = "old" }, IDRabbitMQ, nil, ""},
		{"apache config broken", func(w *world) {
			w.deps.Units.(fakeUnits).states["apache2"] = "failed"
			h := w.deps.Host.(fakeHost)
			h.run = func(name string, _ ...string) ([]byte, error) {
				if name == "apache2ctl" {
					return []byte("AH00526: Syntax error on line 229 of /etc/apache2/apache2.conf:\nInvalid command 'Bogus'\n"), errors.New("exit status 1")
				}
				return []byte(healthyMySQL), nil
			}
			w.deps.Host = h
		}, UnitID("apache2"), []string{IDApache, IDDashboardPage}, "line 229 of /etc/apache2/apache2.conf (Invalid command 'Bogus')"},
		{"static files missing", func(w *world) { w.horizon.noStatic = true }, IDDashboardStatic, nil, "collectstatic"},
		{"horizon keystone URL dead", func(w *world) {
			w.deps.Host.(fakeHost).files["/etc/openstack-dashboard/local_settings.py"] = "OPENSTACK_KEYSTONE_URL = \"http://127.0.0.1:1/v3\"\n"
		}, IDDashboardKeystone, []string{IDDashboardLogin}, "OPENSTACK_KEYSTONE_URL = \"http://127.0.0.1:5000/v3\" in /etc/openstack-dashboard/local_settings.py"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t)
			tt.break_(w)
			rep := w.run(t)
			roots := rep.RootCauses()
			if len(roots) != 1 || roots[0] != tt.root {
				var b strings.Builder
				_ = rep.WriteText(&b, checks.TextOptions{})
				t.Fatalf("root causes %v, want [%s]\n%s", roots, tt.root, b.String())
			}
			if e, _ := rep.Get(tt.root); !strings.Contains(e.Fix, tt.fix) {
				t.Errorf("fix %q, want it to contain %q", e.Fix, tt.fix)
			}
			for _, id := range tt.skips {
				if s, rc := status(rep, id); s != checks.Skip || len(rc) != 1 || rc[0] != tt.root {
					t.Errorf("%s: %s %v, want skipped naming %s", id, s, rc, tt.root)
				}
			}
		})
	}
}

// TestHungKeystoneReportedFast: keystone accepts TCP and never answers;
// doctor must say so within its probe timeout, not hang.
func TestHungKeystoneReportedFast(t *testing.T) {
	w := newWorld(t)
	w.cfg.KeystoneURL = "http://" + nettest.Serve(t, nettest.Silent) + "/v3"
	start := time.Now()
	rep := w.run(t)
	if el := time.Since(start); el > 3*time.Second {
		t.Errorf("took %s", el)
	}
	e, _ := rep.Get(IDKeystone)
	if e.Status != checks.Fail || !strings.Contains(e.Summary, "never answers") {
		t.Errorf("keystone: %+v", e)
	}
	plan := Plan(rep, w.cfg, &recordingRepairer{})
	if len(plan) != 1 || plan[0].Description != "restart keystone (running but not answering)" {
		t.Errorf("plan: %+v", plan)
	}
}

func TestNotLabHost(t *testing.T) {
	w := newWorld(t)
	w.cfg.Lab, w.cfg.NotLabReason = false, "no /etc/stacklab/secrets.yaml"
	rep := w.run(t)
	if roots := rep.RootCauses(); len(roots) != 1 || roots[0] != IDLabHost {
		t.Errorf("roots %v", roots)
	}
	// A remote cloud: host checks are not applicable, not failed.
	w.cfg.NotLabReason = ""
	rep = w.run(t)
	for _, id := range []string{IDLabHost, IDDisk, UnitID("mariadb"), IDMariaDB, IDDashboardLogin} {
		if s, _ := status(rep, id); s != checks.Skip {
			t.Errorf("remote: %s is %s, want skip", id, s)
		}
	}
}

type recordingRepairer struct {
	log                  []string
	keystoneURLUnchanged bool
}

func (f *recordingRepairer) Restart(_ context.Context, u string) error {
	f.log = append(f.log, "restart "+u)
	return nil
}
func (f *recordingRepairer) ConvergeCatalog(context.Context) ([]string, error) {
	f.log = append(f.log, "converge")
	return nil, nil
}
func (f *recordingRepairer) AllowMgmtHost(context.Context) (bool, error) {
	f.log = append(f.log, "allow")
	return true, nil
}
func (f *recordingRepairer) RestoreMemcached(context.Context) (bool, error) {
	f.log = append(f.log, "memcached.conf")
	return true, nil
}
func (f *recordingRepairer) DiscoverHosts(context.Context) error {
	f.log = append(f.log, "discover")
	return nil
}
func (f *recordingRepairer) SetHorizonKeystoneURL(context.Context) (bool, error) {
	f.log = append(f.log, "keystone-url")
	return !f.keystoneURLUnchanged, nil
}

func TestPlan(t *testing.T) {
	fail := func(id, summary string, ev ...string) checks.Entry {
		return checks.Entry{ID: id, Result: checks.Failf(summary, "", ev...)}
	}
	rep := checks.Report{Entries: []checks.Entry{
		fail(UnitID("apache2"), "apache2 is failed/failed"),
		fail(UnitID("mariadb"), "mariadb is inactive/dead"),
		fail(IDCatalog, "1 endpoint", "wrong address: glance"),
		fail(IDDashboardPage, "Horizon refuses the Host: ALLOWED_HOSTS lacks it"),
		fail(IDCellMapping, "not mapped"),
		fail(IDMemcached, "memcached does not accept connections"),
	}}
	cfg := Config{Units: []string{"mariadb", "memcached", "keystone", "apache2"}, MgmtIP: "10.0.0.2"}
	f := &recordingRepairer{}
	for _, r := range Plan(rep, cfg, f) {
		if err := r.Run(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	want := "restart mariadb|restart apache2|memcached.conf|restart memcached|converge|allow|restart apache2|discover"
	if got := strings.Join(f.log, "|"); got != want {
		t.Errorf("repairs\n got %s\nwant %s", got, want)
	}
	// Nothing failed: nothing to do.
	if p := Plan(checks.Report{}, cfg, f); len(p) != 0 {
		t.Errorf("plan for a healthy report: %v", p)
	}
}

func TestCompare(t *testing.T) {
	before := checks.Report{Entries: []checks.Entry{
		{ID: "a", Result: checks.Failf("x", "")}, {ID: "b", Result: checks.Pass("y")},
	}}
	after := checks.Report{Entries: []checks.Entry{
		{ID: "a", Result: checks.Pass("fine")}, {ID: "b", Result: checks.Pass("y")},
	}}
	ch := Compare(before, after)
	if len(ch) != 1 || ch[0].String() != "a: fail → ok (fine)" {
		t.Errorf("%v", ch)
	}
}

func TestPlanRestartsSilentServices(t *testing.T) {
	rep := checks.Report{Entries: []checks.Entry{
		{ID: IDComputeServices, Result: checks.Failf("nova-compute down or disabled: lab (enabled/down)", "")},
		{ID: IDNetworkAgents, Result: checks.Failf("not alive: DHCP agent on lab", "")},
	}}
	cfg := Config{Units: []string{"nova-compute", "neutron-dhcp-agent", "neutron-l3-agent"}}
	f := &recordingRepairer{}
	for _, r := range Plan(rep, cfg, f) {
		_ = r.Run(context.Background())
	}
	if got := strings.Join(f.log, "|"); got != "restart nova-compute|restart neutron-dhcp-agent" {
		t.Errorf("repairs: %s", got)
	}
}

func (f *recordingRepairer) SetRabbitPassword(_ context.Context, user string, pw cloud.Secret) error {
	f.log = append(f.log, "rabbit "+user+" "+pw.Reveal())
	return nil
}

// RabbitMQ's own password changed behind the services: --fix sets it back
// to the lab's (on stdin, see System.RunInput), and the plan never shows it.
func TestPlanRabbitPassword(t *testing.T) {
	rep := checks.Report{Entries: []checks.Entry{{ID: IDRabbitMQ, Result: checks.Failf(rabbitUserRefused+"openstack", "")}}}
	cfg := Config{RabbitUser: "openstack", RabbitPassword: cloud.Secret("s3cret-rabbit")}
	f := &recordingRepairer{}
	plan := Plan(rep, cfg, f)
	if len(plan) != 1 || plan[0].For != IDRabbitMQ || strings.Contains(plan[0].Description, "s3cret") {
		t.Fatalf("plan %+v", plan)
	}
	if err := plan[0].Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(f.log, "|"); got != "rabbit openstack s3cret-rabbit" {
		t.Errorf("repairs %q", got)
	}
	// RabbitMQ down, not refusing: no password repair.
	rep.Entries[0].Result = checks.Failf("RabbitMQ does not accept connections on 127.0.0.1:5672", "")
	if plan := Plan(rep, cfg, f); len(plan) != 0 {
		t.Errorf("plan for a RabbitMQ that is down: %+v", plan)
	}
}

func TestSystemRunInputFeedsStdin(t *testing.T) {
	out, err := System{}.RunInput(context.Background(), "pw-on-stdin\n", "cat")
	if err != nil || string(out) != "pw-on-stdin\n" {
		t.Fatalf("cat read %q, %v", out, err)
	}
	if _, err := (System{}).RunInput(context.Background(), "", "false"); err == nil {
		t.Error("a failing command returned no error")
	}
}

// Horizon's CACHES as Python reads it: comments do not count, the last
// assignment wins, and a backend that is not memcached names no address.
func TestHorizonCache(t *testing.T) {
	debian := "# memcached set CACHES to something like below.\n#CACHES = {\n#    'default': {\n" +
		"#        'BACKEND': 'django.core.cache.backends.memcached.MemcachedCache',\n#        'LOCATION': '127.0.0.1:11211',\n#    },\n#}\n"
	guide := "SESSION_ENGINE = 'django.contrib.sessions.backends.cache'\nCACHES = {\n    'default': {\n" +
		"        'BACKEND': 'django.core.cache.backends.memcached.MemcachedCache',\n        'LOCATION': 'controller:11211',\n    }\n}\nOPENSTACK_KEYSTONE_DEFAULT_DOMAIN = \"Default\"\n"
	locmem := "CACHES = {\n  'default' : {\n    'BACKEND': 'django.core.cache.backends.locmem.LocMemCache'\n  }\n}\n"
	for _, tc := range []struct {
		name, file, backend, location string
		set                           bool
	}{
		{"Debian's commented example only", debian, "", "", false},
		{"the guide's CACHES after Debian's example", debian + guide, "django.core.cache.backends.memcached.MemcachedCache", "controller:11211", true},
		{"the last assignment wins", guide + "CACHES = {'default': {'BACKEND': 'x.PyMemcacheCache', 'LOCATION': 'unix:/run/mc.sock'}}\n", "x.PyMemcacheCache", "/run/mc.sock", true},
		{"Debian's _0006_debian_cache.py", locmem, "django.core.cache.backends.locmem.LocMemCache", "", true},
		{"an indented CACHES is not an assignment", "if False:\n    CACHES = {'default': {'LOCATION': '1.2.3.4:1'}}\n", "", "", false},
	} {
		b, l, set := HorizonCache([]byte(tc.file))
		if b != tc.backend || l != tc.location || set != tc.set {
			t.Errorf("%s: got (%q, %q, %v), want (%q, %q, %v)", tc.name, b, l, set, tc.backend, tc.location, tc.set)
		}
	}
}

// A hand-made lab as the guide leaves it on Debian: local_settings.py
// names memcached, Debian's _0006_debian_cache.py (read later) replaces it
// with LocMemCache. memcached is then probed at keystone's address, not at
// the commented example's 127.0.0.1.
func TestMemcachedCheckFollowsTheCacheHorizonUses(t *testing.T) {
	w := newWorld(t)
	h := w.deps.Host.(fakeHost)
	h.files[HorizonSettingsFiles[0]] = "#        'LOCATION': '127.0.0.1:1',\nCACHES = {'default': {'BACKEND': 'django.core.cache.backends.memcached.MemcachedCache', 'LOCATION': '127.0.0.1:2'}}\n"
	h.files[HorizonSettingsFiles[1]] = "CACHES = {'default': {'BACKEND': 'django.core.cache.backends.locmem.LocMemCache'}}\n"
	dr := &doctor{cfg: w.cfg, d: w.deps}
	addr, note := dr.horizonCacheAddr("192.0.2.10:11211")
	if addr != "192.0.2.10:11211" || !strings.Contains(note, "LocMemCache in "+HorizonSettingsFiles[1]) {
		t.Errorf("addr %q note %q", addr, note)
	}
	delete(h.files, HorizonSettingsFiles[1])
	if addr, note := dr.horizonCacheAddr("192.0.2.10:11211"); addr != "127.0.0.1:2" || note != HorizonSettingsFiles[0] {
		t.Errorf("without Debian's file: addr %q note %q", addr, note)
	}
}

// A dashboard that accepts and never answers while apache2 runs is a
// wedged WSGI daemon: --fix restarts apache2 (once, even when its unit
// failed too); a dashboard that answers wrongly gets no restart for it.
func TestPlanRestartsApacheForAHungDashboard(t *testing.T) {
	w := newWorld(t)
	w.cfg.HorizonURL = "http://" + nettest.Serve(t, nettest.Silent) + "/horizon"
	rep := w.run(t)
	e, _ := rep.Get(IDDashboardPage)
	if e.Status != checks.Fail || !strings.HasSuffix(e.Summary, hungSummary) {
		t.Fatalf("dashboard-page: %+v", e)
	}
	plan := Plan(rep, w.cfg, &recordingRepairer{})
	if len(plan) != 1 || plan[0].For != IDDashboardPage || plan[0].Description != "restart apache2 (Horizon accepts connections but never answers)" {
		t.Errorf("plan: %+v", plan)
	}
	var restarted []string
	hm := PlanHandMade(rep, w.cfg, func(_ context.Context, u string) error { restarted = append(restarted, u); return nil }, nil)
	for _, r := range hm {
		if err := r.Run(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if strings.Join(restarted, " ") != "apache2" {
		t.Errorf("hand-made plan restarted %v, want apache2", restarted)
	}

	failed := func(id, summary string) checks.Entry { return checks.Entry{ID: id, Result: checks.Failf(summary, "")} }
	for _, tc := range []struct {
		name    string
		entries []checks.Entry
		want    string
	}{
		{"unit failed too", []checks.Entry{failed(UnitID("apache2"), "apache2 is failed/failed"), failed(IDDashboardPage, "the dashboard "+hungSummary)}, "restart apache2"},
		{"answers 400", []checks.Entry{failed(IDDashboardPage, "Horizon refuses the Host 10.0.0.2: ALLOWED_HOSTS lacks the management address")}, "allow|restart apache2"},
		{"refused", []checks.Entry{failed(IDDashboardPage, "the dashboard does not answer")}, ""},
	} {
		f := &recordingRepairer{}
		rep := checks.Report{Entries: tc.entries}
		for _, r := range Plan(rep, Config{Units: []string{"apache2"}}, f) {
			_ = r.Run(context.Background())
		}
		if got := strings.Join(f.log, "|"); got != tc.want {
			t.Errorf("%s: repairs %q, want %q", tc.name, got, tc.want)
		}
		if tc.name == "unit failed too" {
			if hm := PlanHandMade(rep, Config{Units: []string{"apache2"}}, f.Restart, nil); len(hm) != 1 {
				t.Errorf("hand-made plan for a failed apache2 and a hung page: %d repairs, want one restart", len(hm))
			}
		}
	}
}
