package doctor

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stacklab/stacklab/checks"
)

const (
	apacheMain  = "/etc/apache2/apache2.conf"
	horizonSite = "/etc/apache2/sites-enabled/openstack-dashboard-alias-only.conf"
)

// debianAliasOnly is Debian 12's openstack-dashboard-alias-only.conf as
// the package ships it: the daemon declared, never used.
const debianAliasOnly = `WSGIScriptAlias /horizon /usr/share/openstack-dashboard/wsgi.py
WSGIDaemonProcess horizon user=www-data group=www-data
Alias /static /var/lib/openstack-dashboard/static
`

const stacklabAliasOnly = `WSGIScriptAlias /horizon /usr/share/openstack-dashboard/wsgi.py
WSGIDaemonProcess horizon user=www-data group=www-data
WSGIProcessGroup horizon
WSGIApplicationGroup %{GLOBAL}
`

func dumpIncludes(files ...string) string {
	var b strings.Builder
	b.WriteString("Included configuration files:\n  (*) " + files[0] + "\n")
	for _, f := range files[1:] {
		b.WriteString("    (225) " + f + "\n")
	}
	return b.String()
}

// apacheHost is a fakeHost whose apache2ctl lists files (DUMP_INCLUDES)
// and says Syntax OK otherwise.
func apacheHost(files map[string]string, include ...string) fakeHost {
	return fakeHost{files: files, run: func(name string, args ...string) ([]byte, error) {
		switch {
		case name == "apache2ctl" && strings.Contains(strings.Join(args, " "), "DUMP_INCLUDES"):
			return []byte(dumpIncludes(include...)), nil
		case name == "apache2ctl":
			return []byte("Syntax OK\n"), nil
		case name == "mysql":
			return []byte(healthyMySQL), nil
		}
		return nil, errors.New("unexpected command " + name)
	}}
}

func TestHorizonWSGIVerdict(t *testing.T) {
	for _, tt := range []struct {
		name   string
		main   string // apache2.conf
		site   string
		status checks.Status
		want   string // in the summary
		fix    string // in the fix
		plan   bool
	}{
		{"stacklab's site", "ServerRoot /etc/apache2\n", stacklabAliasOnly, checks.OK, "daemon process horizon", "", false},
		{"Debian's site: embedded", "ServerRoot /etc/apache2\n", debianAliasOnly, checks.Fail, horizonEmbedded + ", not in its WSGI daemon process horizon",
			"add after line 2 of " + horizonSite + ":\n  WSGIProcessGroup horizon\n  WSGIApplicationGroup %{GLOBAL}", true},
		{"process-group on the alias", "", "WSGIDaemonProcess horizon\nWSGIScriptAlias /horizon /usr/share/openstack-dashboard/wsgi.py process-group=horizon\n",
			checks.OK, "daemon process horizon", "", false},
		{"group at server level in another file", "WSGIProcessGroup horizon\n", debianAliasOnly, checks.OK, "", "", false},
		{"group inside a vhost of another file does not count", "<VirtualHost *:8080>\n  WSGIProcessGroup horizon\n</VirtualHost>\n", debianAliasOnly,
			checks.Fail, horizonEmbedded, "", true},
		{"explicitly embedded", "", "WSGIScriptAlias /horizon /usr/share/openstack-dashboard/wsgi.py\nWSGIDaemonProcess horizon\nWSGIProcessGroup %{GLOBAL}\n",
			checks.Fail, horizonEmbedded + " (WSGIProcessGroup %{GLOBAL} at " + horizonSite + ":3)", "replace WSGIProcessGroup %{GLOBAL} at " + horizonSite + ":3", false},
		{"no daemon at all", "", "WSGIScriptAlias /horizon /usr/share/openstack-dashboard/wsgi.py\n", checks.Fail, "no WSGIDaemonProcess",
			"WSGIDaemonProcess horizon user=www-data group=www-data\n  WSGIProcessGroup horizon", false},
		{"undeclared group", "", "WSGIScriptAlias /horizon /usr/share/openstack-dashboard/wsgi.py\nWSGIProcessGroup dash\n", checks.Fail,
			"names no WSGIDaemonProcess", "WSGIDaemonProcess dash", false},
		{"commented out", "", "WSGIScriptAlias /horizon /usr/share/openstack-dashboard/wsgi.py\nWSGIDaemonProcess horizon\n#WSGIProcessGroup horizon\n",
			checks.Fail, horizonEmbedded, "", true},
		{"continued declaration", "", "WSGIScriptAlias /horizon /usr/share/openstack-dashboard/wsgi.py\nWSGIDaemonProcess horizon \\\n    user=www-data\nAlias /x /y\n",
			checks.Fail, horizonEmbedded, "add after line 3 of", true},
		{"daemon in another file", "WSGIDaemonProcess dash\n", "WSGIScriptAlias /horizon /usr/share/openstack-dashboard/wsgi.py\n", checks.Fail,
			horizonEmbedded + " (no WSGIProcessGroup)", "add to " + horizonSite + ":\n  WSGIProcessGroup dash\n", false},
		{"only the process group removed", "", "WSGIScriptAlias /horizon /usr/share/openstack-dashboard/wsgi.py\nWSGIDaemonProcess horizon\nWSGIApplicationGroup %{GLOBAL}\n",
			checks.Fail, horizonEmbedded, "add after line 2 of " + horizonSite + ":\n  WSGIProcessGroup horizon\nthen", true},
		{"no horizon", "WSGIScriptAlias /app /srv/app.wsgi\n", "", checks.Skip, "no WSGIScriptAlias for Horizon", "", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dirs := append(ParseApache(apacheMain, []byte(tt.main)), ParseApache(horizonSite, []byte(tt.site))...)
			r, p := HorizonWSGIVerdict(dirs)
			if r.Status != tt.status || !strings.Contains(r.Summary, tt.want) || !strings.Contains(r.Fix, tt.fix) {
				t.Errorf("got %s %q\nfix %q\nevidence %q", r.Status, r.Summary, r.Fix, r.Evidence)
			}
			if (p != nil) != tt.plan {
				t.Errorf("plan %+v, want one: %v", p, tt.plan)
			}
		})
	}
}

func TestApacheIncludesAndParse(t *testing.T) {
	dump := "Included configuration files:\n  (*) /etc/apache2/apache2.conf\n    (146) /etc/apache2/mods-enabled/wsgi.load\n" +
		"    (225) /etc/apache2/sites-enabled/openstack-dashboard-alias-only.conf\n"
	got := ApacheIncludes(dump)
	if strings.Join(got, "|") != "/etc/apache2/apache2.conf|/etc/apache2/mods-enabled/wsgi.load|"+horizonSite {
		t.Errorf("includes %q", got)
	}
	dirs := ParseApache("f", []byte("# c\n<IfModule x>\n  Alias \"/a b\" /c\n</IfModule>\nWSGIDaemonProcess h \\\n  threads=1\n"))
	if len(dirs) != 2 || dirs[0].Args[0] != "/a b" || dirs[0].Depth != 1 || dirs[1].Name != "wsgidaemonprocess" ||
		dirs[1].Line != 5 || dirs[1].Last != 6 || dirs[1].Depth != 0 || len(dirs[1].Args) != 2 {
		t.Errorf("directives %+v", dirs)
	}
}

func TestAddWSGIProcessGroup(t *testing.T) {
	in := "<VirtualHost *:80>\n    WSGIDaemonProcess horizon \\\n      user=www-data\n    Alias /a /b\n</VirtualHost>\n"
	out, err := AddWSGIProcessGroup([]byte(in), wsgiPlan{After: 3, Group: "horizon"})
	want := "<VirtualHost *:80>\n    WSGIDaemonProcess horizon \\\n      user=www-data\n    WSGIProcessGroup horizon\n    WSGIApplicationGroup %{GLOBAL}\n    Alias /a /b\n</VirtualHost>\n"
	if err != nil || string(out) != want {
		t.Errorf("got %v\n%s\nwant\n%s", err, out, want)
	}
	out, _ = AddWSGIProcessGroup([]byte("WSGIDaemonProcess horizon\nWSGIApplicationGroup %{GLOBAL}\n"), wsgiPlan{After: 1, Group: "horizon", HasAppGroup: true})
	if string(out) != "WSGIDaemonProcess horizon\nWSGIProcessGroup horizon\nWSGIApplicationGroup %{GLOBAL}\n" {
		t.Errorf("with an application group already: %q", out)
	}
	// Last line without a newline.
	out, _ = AddWSGIProcessGroup([]byte("WSGIDaemonProcess horizon"), wsgiPlan{After: 1, Group: "horizon"})
	if string(out) != "WSGIDaemonProcess horizon\nWSGIProcessGroup horizon\nWSGIApplicationGroup %{GLOBAL}\n" {
		t.Errorf("unterminated: %q", out)
	}
	if _, err := AddWSGIProcessGroup([]byte("x\n"), wsgiPlan{After: 9}); err == nil {
		t.Error("a line past the end was accepted")
	}
}

// Embedded Horizon is the root cause, the login check is skipped behind
// it, and Plan's repair edits the site and restarts apache2.
func TestHorizonWSGIRootCause(t *testing.T) {
	w := newWorld(t)
	h := w.deps.Host.(fakeHost)
	h.files[apacheMain] = "IncludeOptional sites-enabled/*.conf\n"
	h.files[horizonSite] = debianAliasOnly
	w.deps.Host = apacheHost(h.files, apacheMain, horizonSite)
	rep := w.run(t)
	if roots := rep.RootCauses(); len(roots) != 1 || roots[0] != IDHorizonWSGI {
		var b strings.Builder
		_ = rep.WriteText(&b, checks.TextOptions{})
		t.Fatalf("roots %v\n%s", roots, b.String())
	}
	// Debian 13's embedded Horizon answers 500 on the page itself: the
	// page and the login are the process group's consequences.
	for _, id := range []string{IDDashboardLogin, IDDashboardPage} {
		if s, rc := status(rep, id); s != checks.Skip || len(rc) != 1 || rc[0] != IDHorizonWSGI {
			t.Errorf("%s %s %v, want skipped naming %s", id, s, rc, IDHorizonWSGI)
		}
	}
	f := &wsgiRepairer{}
	plan := Plan(rep, w.cfg, f)
	if len(plan) != 1 || plan[0].For != IDHorizonWSGI {
		t.Fatalf("plan %+v", plan)
	}
	if err := plan[0].Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(f.log, "|"); got != "wsgi|restart apache2" {
		t.Errorf("repairs %s", got)
	}
	if p := Plan(rep, w.cfg, basicRepairer{}); len(p) != 0 {
		t.Errorf("plan without HorizonWSGIRepairer: %+v", p)
	}
	// Repaired: green.
	h.files[horizonSite] = stacklabAliasOnly
	rep = w.run(t)
	if s, _ := status(rep, IDHorizonWSGI); s != checks.OK || rep.Failed() {
		t.Errorf("after the repair: %s, failed %v", s, rep.Failed())
	}
}

type wsgiRepairer struct{ recordingRepairer }

func (f *wsgiRepairer) DelegateHorizonWSGI(context.Context) (bool, error) {
	f.log = append(f.log, "wsgi")
	return true, nil
}

// rootHost reads files under a root directory, as System does, and lists
// Apache's files itself.
type rootHost struct {
	System
	include []string
}

func (h rootHost) Run(context.Context, string, ...string) ([]byte, error) {
	return []byte(dumpIncludes(h.include...)), nil
}

// The real repair edits the file sites-enabled links to, keeps the link,
// keeps the old file next to it, and does nothing the second time.
func TestDelegateHorizonWSGIOnDisk(t *testing.T) {
	root := t.TempDir()
	avail := filepath.Join(root, "/etc/apache2/sites-available/openstack-dashboard-alias-only.conf")
	link := filepath.Join(root, horizonSite)
	for _, d := range []string{filepath.Dir(avail), filepath.Dir(link)} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(root, apacheMain), []byte("ServerRoot /etc/apache2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(avail, []byte(debianAliasOnly), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../sites-available/openstack-dashboard-alias-only.conf", link); err != nil {
		t.Fatal(err)
	}
	h := rootHost{System: System{Root: root}, include: []string{apacheMain, horizonSite}}
	changed, err := delegateHorizonWSGI(context.Background(), h, root)
	if err != nil || !changed {
		t.Fatalf("first: %v, %v", changed, err)
	}
	got, _ := os.ReadFile(avail)
	want := "WSGIScriptAlias /horizon /usr/share/openstack-dashboard/wsgi.py\nWSGIDaemonProcess horizon user=www-data group=www-data\n" +
		"WSGIProcessGroup horizon\nWSGIApplicationGroup %{GLOBAL}\nAlias /static /var/lib/openstack-dashboard/static\n"
	if string(got) != want {
		t.Errorf("site:\n%s\nwant\n%s", got, want)
	}
	if st, err := os.Lstat(link); err != nil || st.Mode()&os.ModeSymlink == 0 {
		t.Errorf("sites-enabled entry is no longer a link: %v %v", st, err)
	}
	if bak, _ := os.ReadFile(avail + HorizonBackupSuffix); string(bak) != debianAliasOnly {
		t.Errorf("backup %q", bak)
	}
	if changed, err := delegateHorizonWSGI(context.Background(), h, root); err != nil || changed {
		t.Errorf("second: %v, %v; want no change", changed, err)
	}
}

// The known cause of lost logins read from Apache's configuration: with
// Horizon in its daemon process one login proves the session; where the
// configuration cannot be read, the login check tries LoginTries times.
func TestLoginTriesFollowTheWSGIConfiguration(t *testing.T) {
	for _, tc := range []struct {
		name   string
		apache bool
		want   int
	}{
		{"Horizon in its daemon process", true, 1},
		{"Apache's configuration unread", false, LoginTries},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t)
			h := w.deps.Host.(fakeHost)
			if tc.apache {
				h.files[apacheMain] = "IncludeOptional sites-enabled/*.conf\n"
				h.files[horizonSite] = stacklabAliasOnly
				w.deps.Host = apacheHost(h.files, apacheMain, horizonSite)
			}
			rep := w.run(t)
			if e, _ := rep.Get(IDDashboardLogin); e.Status != checks.OK {
				t.Fatalf("dashboard-login %s: %s", e.Status, e.Summary)
			}
			if w.horizon.logins != tc.want {
				t.Errorf("%d logins, want %d", w.horizon.logins, tc.want)
			}
		})
	}
}
