package openstack

import (
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strings"
	"testing"
)

// render writes everything this package knows about a lab as one text, for
// the golden file reviewers read (testdata/lab.golden).
func render(p Params) string {
	var b strings.Builder
	w := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	w("# Packages\n%s\n", strings.Join(Packages(p), " "))
	w("# Excluded packages\n%s\n", strings.Join(ExcludedPackages(p), " "))
	w("# Stand-ins\n")
	standIns := StandIns(p)
	for _, pkg := range slices.Sorted(maps.Keys(standIns)) {
		w("%s: %s\n", pkg, strings.Join(standIns[pkg], " "))
	}
	w("\n# Preseeds\n")
	for _, ps := range Preseeds(p) {
		w("%s\n", ps)
	}
	w("\n# Files\n")
	for _, f := range Files(p) {
		var flags []string
		if f.PreInstall {
			flags = append(flags, "pre-install")
		}
		if f.Secret {
			flags = append(flags, "secret")
		}
		if f.Owner != "" || f.Mode != 0 {
			flags = append(flags, fmt.Sprintf("%s:%s %04o", f.Owner, f.Group, f.Mode))
		}
		w("\n== %s (%s) restart: %s", f.Path, f.Kind, strings.Join(f.Units, " "))
		if len(flags) > 0 {
			w(" [%s]", strings.Join(flags, ", "))
		}
		w("\n")
		switch f.Kind {
		case INI, Flat:
			var order []string
			bySection := map[string][]string{}
			for _, s := range f.Sets {
				if _, ok := bySection[s.Section]; !ok {
					order = append(order, s.Section)
				}
				line := s.Key + " = " + s.Value
				if s.Delete {
					line = "(delete) " + s.Key
				}
				bySection[s.Section] = append(bySection[s.Section], line)
			}
			for _, sec := range order {
				switch {
				case f.Kind == Flat:
					w("%s\n", strings.Join(bySection[sec], "\n"))
				case sec == "":
					w("[DEFAULT]\n%s\n", strings.Join(bySection[sec], "\n"))
				default:
					w("[%s]\n%s\n", sec, strings.Join(bySection[sec], "\n"))
				}
			}
		case PythonSettings:
			for _, s := range f.Settings {
				w("%s = %s\n", s.Name, s.Expr)
			}
		case Text:
			w("%s", f.Content)
		}
	}
	w("\n# Databases\n")
	for _, d := range Databases(p) {
		w("%s owned by %s (password %s) from %s\n", d.Name, d.User, d.Password, strings.Join(d.Hosts, ", "))
	}
	w("\n# Tiers\n")
	for _, t := range Tiers(p) {
		w("%s: %s\n", t.Name, strings.Join(t.Units, " "))
		for _, pr := range t.Probes {
			w("  probe %s %s", pr.Kind, pr.Target)
			if pr.Status != 0 {
				w(" status %d", pr.Status)
			}
			w("\n")
		}
	}
	w("\n# Commands\n")
	for _, c := range SyncCommands(p) {
		w("[%s %s] %s as %s: %s", c.Tier, c.Phase, c.Name, c.User, strings.Join(c.Argv, " "))
		if c.Unless != nil {
			as := ""
			if c.UnlessUser != "" {
				as = " as " + c.UnlessUser
			}
			w("  (unless%s: %s)", as, strings.Join(c.Unless, " "))
		}
		if c.Env != nil {
			w("  (env: %s)", strings.Join(c.Env, " "))
		}
		if c.Stdin != "" {
			w("  (stdin: %q)", c.Stdin)
		}
		if c.Secret {
			w("  [secret]")
		}
		w("\n")
	}
	w("\n# APIs\n")
	for _, a := range APIs() {
		w("%s (%s) %q on %s: %s\n", a.Name, a.Type, a.Description, a.Unit, a.URL(p.MgmtIP))
	}
	w("identity (bootstrap) %s\n", KeystoneEndpoint(p.MgmtIP))
	return b.String()
}

func TestLabGolden(t *testing.T) {
	// The measured lab host: libvirt with TCG in an nspawn container
	// whose cgroup v1 controllers are read-only.
	p := sampleParams()
	p.CgroupControllersReadOnly = true
	golden(t, "lab.golden", render(p))
	fake := sampleParams()
	fake.ComputeDriver, fake.VirtType = ComputeFake, VirtQEMU
	golden(t, "lab-fake.golden", render(fake))
}

// TestConsistency cross-checks the tables against each other, for every
// variant of Params.
func TestConsistency(t *testing.T) {
	for _, p := range paramVariants() {
		tiers := Tiers(p)
		tierIndex := map[string]int{}
		units := map[string]bool{}
		for i, tr := range tiers {
			tierIndex[tr.Name] = i
			for _, u := range tr.Units {
				if units[u] {
					t.Errorf("unit %s in two tiers", u)
				}
				units[u] = true
			}
			if len(tr.Probes) == 0 {
				t.Errorf("tier %s has no probe", tr.Name)
			}
		}
		if !slices.Equal(Units(p), flatten(tiers)) {
			t.Errorf("Units() disagrees with Tiers()")
		}

		paths := map[string]bool{}
		dbs := map[string]Database{}
		for _, d := range Databases(p) {
			if _, dup := dbs[d.Name]; dup {
				t.Errorf("database %s twice", d.Name)
			}
			dbs[d.Name] = d
		}
		users := map[string]string{}
		// The service users keystone's catalog holds, with the passwords
		// the lab model registers for them.
		for name, pw := range map[string]string{"glance": p.GlanceUser, "placement": p.PlacementUser, "nova": p.NovaUser, "neutron": p.NeutronUser} {
			users[name] = pw
		}
		for _, f := range Files(p) {
			if paths[f.Path] {
				t.Errorf("%s listed twice", f.Path)
			}
			paths[f.Path] = true
			if len(f.Units) == 0 && !f.SystemdUnit {
				t.Errorf("%s restarts no unit", f.Path)
			}
			for _, u := range f.Units {
				if !units[u] {
					t.Errorf("%s restarts %s, which no tier starts", f.Path, u)
				}
			}
			if hasSecret(p, fileText(f)) && !f.Secret {
				t.Errorf("%s holds a secret but is not marked Secret", f.Path)
			}
			// Every database URL names a database of Databases with its
			// owner's password; every service user's password is the
			// catalog's.
			creds := map[string]map[string]string{}
			for _, s := range f.Sets {
				if strings.HasPrefix(s.Value, "mysql+pymysql://") {
					u, err := url.Parse(s.Value)
					if err != nil {
						t.Fatal(err)
					}
					pw, _ := u.User.Password()
					d, ok := dbs[strings.TrimPrefix(u.Path, "/")]
					if !ok || d.User != u.User.Username() || d.Password != pw || u.Host != "127.0.0.1" {
						t.Errorf("%s [%s] %s: %s matches no database", f.Path, s.Section, s.Key, s.Value)
					}
				}
				if s.Key == "username" || s.Key == "password" {
					if creds[s.Section] == nil {
						creds[s.Section] = map[string]string{}
					}
					creds[s.Section][s.Key] = s.Value
				}
				if s.Key == "region_name" || s.Key == "os_region_name" {
					if s.Value != p.Region {
						t.Errorf("%s [%s] %s = %s, want the region %s", f.Path, s.Section, s.Key, s.Value, p.Region)
					}
				}
			}
			for sec, c := range creds {
				if pw, ok := users[c["username"]]; !ok || pw != c["password"] {
					t.Errorf("%s [%s]: user %s/%s is not a catalog user", f.Path, sec, c["username"], c["password"])
				}
			}
		}

		last := -1
		lastPhase := BeforeStart
		for _, c := range SyncCommands(p) {
			i, ok := tierIndex[c.Tier]
			if !ok {
				t.Errorf("command %s: unknown tier %s", c.Name, c.Tier)
				continue
			}
			if i < last || (i == last && c.Phase == BeforeStart && lastPhase == AfterReady) {
				t.Errorf("command %s out of order", c.Name)
			}
			last, lastPhase = i, c.Phase
			if c.User == "" || len(c.Argv) == 0 {
				t.Errorf("command %s: no user or argv", c.Name)
			}
			// Every local user reads /proc/PID/cmdline: a password goes
			// through the environment or standard input, never argv.
			if hasSecret(p, strings.Join(c.Argv, " ")) || hasSecret(p, strings.Join(c.Unless, " ")) {
				t.Errorf("command %s: a password is on its command line: %q", c.Name, c.Argv)
			}
			if hasSecret(p, strings.Join(c.Env, " ")+" "+c.Stdin) != c.Secret {
				t.Errorf("command %s: Secret = %v, but its env and stdin say otherwise", c.Name, c.Secret)
			}
		}

		for _, pre := range Preseeds(p) {
			if hasSecret(p, pre.Value) {
				t.Errorf("preseed %s carries a secret", pre.Question)
			}
		}
	}
}

func flatten(tiers []Tier) []string {
	var out []string
	for _, t := range tiers {
		out = append(out, t.Units...)
	}
	return out
}

func fileText(f File) string {
	var b strings.Builder
	for _, s := range f.Sets {
		b.WriteString(s.Value + "\n")
	}
	for _, s := range f.Settings {
		b.WriteString(s.Expr + "\n")
	}
	b.WriteString(f.Content)
	return b.String()
}

func hasSecret(p Params, text string) bool {
	for _, v := range p.Values() {
		if strings.Contains(text, v) {
			return true
		}
	}
	return false
}

func TestHorizonWebRoot(t *testing.T) {
	p := sampleParams()
	p.HorizonWebRoot = "/dashboard"
	var site string
	for _, f := range Files(p) {
		if f.Path == HorizonApacheSite {
			site = f.Content
		}
	}
	if !strings.Contains(site, "WSGIScriptAlias /dashboard ") || !strings.Contains(site, "Alias /dashboard/static ") {
		t.Errorf("apache site does not follow the web root:\n%s", site)
	}
	var names []string
	for _, c := range SyncCommands(p) {
		if c.Tier == TierDashboard {
			names = append(names, c.Name)
		}
	}
	if len(names) == 0 {
		t.Error("a non-default web root needs Horizon's static files rebuilt")
	}
	for _, c := range SyncCommands(sampleParams()) {
		if c.Tier == TierDashboard {
			t.Errorf("default web root: unexpected %s", c.Name)
		}
	}
}
