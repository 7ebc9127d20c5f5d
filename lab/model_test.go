package lab

import (
	"slices"
	"strings"
	"testing"

	"github.com/stacklab/stacklab/installer/config"
	"github.com/stacklab/stacklab/installer/openstack"
	"github.com/stacklab/stacklab/internal/fix"
)

// secrets generates a full set in a throw-away root, as install does.
func secrets(t *testing.T) config.Secrets {
	t.Helper()
	s, err := config.EnsureSecrets(t.TempDir(), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

var facts = Facts{Hostname: "lab1", MgmtIP: "192.0.2.10", ExtIf: "eth1", MTU: 1500, CPUs: 8, VirtType: "qemu", Gateway: "192.0.2.1"}

func TestResolve(t *testing.T) {
	tests := []struct {
		name  string
		cfg   func(*config.Config)
		facts Facts
		check func(t *testing.T, m Model)
	}{
		{"defaults take the host's address, NIC and URLs", nil, facts, func(t *testing.T, m Model) {
			want := map[string]string{
				"MgmtIP": m.MgmtIP, "ExtIf": m.ExtIf,
				"KeystoneURL": m.KeystoneURL(), "DashboardURL": m.DashboardURL(),
				"DashboardLoginURL": m.DashboardLoginURL(),
			}
			for k, got := range map[string]string{
				"MgmtIP": "192.0.2.10", "ExtIf": "eth1",
				"KeystoneURL": "http://192.0.2.10:5000/v3", "DashboardURL": "http://192.0.2.10/horizon",
				"DashboardLoginURL": "http://192.0.2.10/horizon/auth/login/",
			} {
				if want[k] != got {
					t.Errorf("%s = %q, want %q", k, want[k], got)
				}
			}
			if m.Workers != 4 {
				t.Errorf("workers on 8 CPUs = %d, want 4", m.Workers)
			}
		}},
		{"horizon.web_root moves the dashboard URL", func(c *config.Config) { c.Horizon.WebRoot = "/dashboard" }, facts, func(t *testing.T, m Model) {
			if got := m.DashboardURL(); got != "http://192.0.2.10/dashboard" {
				t.Errorf("DashboardURL = %q", got)
			}
		}},
		{"the configuration's address and NIC win over the host's", func(c *config.Config) {
			c.Network.ManagementAddress, c.Network.ExternalInterface = "198.51.100.7", "eth2"
		}, facts, func(t *testing.T, m Model) {
			if m.MgmtIP != "198.51.100.7" || m.ExtIf != "eth2" || m.KeystoneURL() != "http://198.51.100.7:5000/v3" {
				t.Errorf("model %s %s %s", m.MgmtIP, m.ExtIf, m.KeystoneURL())
			}
			if a := m.Admin(); a.AuthURL != m.KeystoneURL() {
				t.Errorf("clouds.yaml auth_url %q differs from the model's %q", a.AuthURL, m.KeystoneURL())
			}
		}},
		{"an IPv6 address is bracketed in every URL", func(c *config.Config) { c.Network.ManagementAddress = "fd00::5" }, facts, func(t *testing.T, m Model) {
			if m.KeystoneURL() != "http://[fd00::5]:5000/v3" || m.DashboardURL() != "http://[fd00::5]/horizon" {
				t.Errorf("URLs %s %s", m.KeystoneURL(), m.DashboardURL())
			}
		}},
		{"the fake compute driver has no libvirt unit", func(c *config.Config) { c.Compute.Driver = openstack.ComputeFake }, facts, func(t *testing.T, m Model) {
			if slices.Contains(m.Units(), "libvirtd") {
				t.Errorf("units %v", m.Units())
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := config.Default()
			if tt.cfg != nil {
				tt.cfg(&cfg)
			}
			m := Resolve(cfg, secrets(t), tt.facts)
			// The lab itself is IPv4-only (Validate); the URLs are
			// still built right for any address doctor meets.
			if err := m.Validate(); err != nil && !strings.Contains(m.MgmtIP, ":") {
				t.Fatalf("Validate: %v", err)
			}
			tt.check(t, m)
		})
	}
}

// Validate names every bad value with where to set it.
func TestValidateNamesTheFix(t *testing.T) {
	m := Resolve(config.Default(), secrets(t), Facts{Hostname: "lab1"})
	err := m.Validate()
	if err == nil || !strings.Contains(err.Error(), "management IP") || !strings.Contains(fix.Of(err), config.DefaultPath) {
		t.Errorf("err = %v", err)
	}
}

// The units services lists come from the configuration alone, and are the
// same the installer starts.
func TestOfConfigUnitsAreTheInstallersUnits(t *testing.T) {
	cfg := config.Default()
	// Per release too: Debian 13's lab runs Open vSwitch's units.
	for _, release := range []string{"", "12", "13"} {
		f := facts
		f.Release = release
		got, want := OfConfig(cfg, release).Units(), Resolve(cfg, secrets(t), f).Units()
		if !slices.Equal(got, want) {
			t.Errorf("release %q: services' units %v\ninstall's units %v", release, got, want)
		}
		if hasOVS := slices.Contains(got, "neutron-openvswitch-agent"); hasOVS != (release == "13") {
			t.Errorf("release %q: units %v; Open vSwitch's agent only on 13", release, got)
		}
	}
	// linuxbridge on Debian 13 (install refuses it): services describes the
	// release's own lab, as doctor does, not Debian 12's.
	lb := cfg
	lb.OpenStack.NeutronBackend = config.BackendLinuxbridge
	f13 := facts
	f13.Release = "13"
	if got, want := OfConfig(lb, "13").Units(), Resolve(lb, secrets(t), f13).Describable().Units(); !slices.Equal(got, want) {
		t.Errorf("refused backend: services' units %v\ndoctor's units %v", got, want)
	}
	full := Resolve(cfg, secrets(t), facts)
	var tiers []string
	for _, tr := range full.Tiers() {
		tiers = append(tiers, tr.Units...)
	}
	if !slices.Equal(tiers, full.Units()) {
		t.Errorf("units %v are not the tiers' %v in order", full.Units(), tiers)
	}
}

func TestCatalog(t *testing.T) {
	m := Resolve(config.Default(), secrets(t), facts)
	s, err := m.Catalog()
	if err != nil {
		t.Fatal(err)
	}
	urls := map[string]string{}
	for _, svc := range s.Services {
		e := svc.Endpoints
		if e.Public != e.Internal || e.Public != e.Admin {
			t.Errorf("%s: interfaces differ: %+v", svc.Name, e)
		}
		urls[svc.Type] = e.Public
	}
	want := map[string]string{
		// keystone-manage bootstrap registers exactly this, slash included.
		"identity":  "http://192.0.2.10:5000/v3/",
		"image":     "http://192.0.2.10:9292",
		"placement": "http://192.0.2.10:8778",
		"compute":   "http://192.0.2.10:8774/v2.1",
		"network":   "http://192.0.2.10:9696",
	}
	for typ, u := range want {
		if urls[typ] != u {
			t.Errorf("catalog %s = %q, want %q", typ, urls[typ], u)
		}
	}
	if len(s.Users) != 4 || len(s.Assignments) != 4 || s.Region != "RegionOne" {
		t.Errorf("users %d, assignments %d, region %q", len(s.Users), len(s.Assignments), s.Region)
	}
	for _, u := range s.Users {
		if u.Password == "" {
			t.Errorf("user %s has no password", u.Name)
		}
	}

	m.NovaUser, m.NeutronUser = "", ""
	if _, err := m.Catalog(); err == nil || !strings.Contains(err.Error(), "nova neutron") {
		t.Errorf("missing passwords: err = %v", err)
	}
}

// Every API of the catalog is a port preflight wants free, and no port is
// listed twice.
func TestPortsCoverTheCatalog(t *testing.T) {
	m := Resolve(config.Default(), secrets(t), facts)
	seen := map[uint16]bool{}
	for _, p := range m.Ports() {
		if seen[p.Port] {
			t.Errorf("port %d twice", p.Port)
		}
		seen[p.Port] = true
	}
	for _, a := range openstack.APIs() {
		if !seen[uint16(a.Port)] {
			t.Errorf("%s's port %d is not checked", a.Name, a.Port)
		}
		if !slices.Contains(m.Units(), a.Unit) {
			t.Errorf("%s listens in unit %s, which the lab does not start", a.Name, a.Unit)
		}
	}
	for _, p := range []uint16{80, 3306, 5672, 11211, 6080, 8775} {
		if !seen[p] {
			t.Errorf("port %d missing", p)
		}
	}
}
