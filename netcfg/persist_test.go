package netcfg

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata")

func TestRenderGolden(t *testing.T) {
	for _, sys := range []System{SystemNetworkd, SystemNetplan, SystemIfupdown} {
		t.Run(string(sys), func(t *testing.T) {
			f, ok := Render(sys, "eth1")
			if !ok {
				t.Fatalf("Render(%s) rendered nothing", sys)
			}
			golden := filepath.Join("testdata", string(sys)+".golden")
			if *update {
				if err := os.WriteFile(golden, []byte(f.Content), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update once to create it)", err)
			}
			if f.Content != string(want) {
				t.Errorf("Render(%s) differs from %s:\n%s", sys, golden, f.Content)
			}
		})
	}
	if _, ok := Render(SystemNone, "eth1"); ok {
		t.Error("Render(none) rendered a file")
	}
}

func TestRenderNetplanIsValidYAML(t *testing.T) {
	f, _ := Render(SystemNetplan, "enp0s8")
	var v struct {
		Network struct {
			Version   int `yaml:"version"`
			Ethernets map[string]struct {
				DHCP4     bool     `yaml:"dhcp4"`
				DHCP6     bool     `yaml:"dhcp6"`
				AcceptRA  bool     `yaml:"accept-ra"`
				LinkLocal []string `yaml:"link-local"`
			} `yaml:"ethernets"`
		} `yaml:"network"`
	}
	if err := yaml.Unmarshal([]byte(f.Content), &v); err != nil {
		t.Fatal(err)
	}
	e, ok := v.Network.Ethernets["enp0s8"]
	if v.Network.Version != 2 || !ok || e.DHCP4 || e.DHCP6 || e.AcceptRA || e.LinkLocal == nil || len(e.LinkLocal) != 0 {
		t.Errorf("unexpected netplan content: %+v", v)
	}
	if f.Mode != 0o600 {
		t.Errorf("netplan mode = %o, want 0600", f.Mode)
	}
}

func writeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for p, content := range files {
		full := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(content, "->") {
			if err := os.Symlink(strings.TrimPrefix(content, "->"), full); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func TestReadConfigDetectsSystem(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		want  System
	}{
		{"netplan wins over networkd", map[string]string{"etc/netplan/50-cloud-init.yaml": "network: {version: 2}\n", "etc/systemd/network/x.network": "", "etc/network/interfaces": ""}, SystemNetplan},
		{"networkd by file", map[string]string{"etc/systemd/network/20-wired.network": "", "etc/network/interfaces": "source /etc/network/interfaces.d/*\n"}, SystemNetworkd},
		{"networkd enabled without files", map[string]string{networkdWantsMU[1:]: "->/lib/systemd/system/systemd-networkd.service", "etc/network/interfaces": ""}, SystemNetworkd},
		{"our networkd file alone", map[string]string{NetworkdPath[1:]: "x"}, SystemNetworkd},
		{"ifupdown", map[string]string{"etc/network/interfaces": "auto lo\n"}, SystemIfupdown},
		{"a .link file alone is not networkd", map[string]string{"etc/systemd/network/99-default.link": ""}, SystemNone},
		{"nothing", map[string]string{}, SystemNone},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hc, err := Host{Root: writeTree(t, tt.files)}.ReadConfig()
			if err != nil {
				t.Fatal(err)
			}
			if hc.System != tt.want {
				t.Errorf("System = %s (why %q), want %s", hc.System, hc.Why, tt.want)
			}
			if len(hc.Why) == 0 {
				t.Error("no reason given for the decision")
			}
		})
	}
}

func TestConfigWarnings(t *testing.T) {
	tests := []struct {
		name     string
		files    map[string]string
		want     []string // one substring of the message per warning
		evidence []string // substrings expected somewhere in the evidence
	}{
		{
			name: "networkd file before ours with DHCP on en*",
			files: map[string]string{"etc/systemd/network/05-dhcp.network": "[Match]\nName=en* eth*\n\n[Network]\nDHCP=yes\n",
				"etc/systemd/network/20-after.network": "[Match]\nName=eth1\n[Network]\nAddress=192.0.2.1/24\n"},
			want:     []string{"05-dhcp.network matches eth1 and sorts before 10-stacklab-external.network"},
			evidence: []string{"/etc/systemd/network/05-dhcp.network:2: Name=en* eth*", "/etc/systemd/network/05-dhcp.network:5: DHCP=yes"},
		},
		{
			name:  "networkd file for another NIC",
			files: map[string]string{"etc/systemd/network/05-mgmt.network": "[Match]\nName=eth0\n[Network]\nDHCP=yes\n"},
		},
		{
			name: "netplan dhcp on eth1 by id and by match",
			files: map[string]string{"etc/netplan/50-cloud-init.yaml": `network:
  version: 2
  ethernets:
    eth0:
      dhcp4: true
    eth1:
      dhcp4: true
      addresses: [192.0.2.10/24]
    any:
      match:
        name: "eth*"
      dhcp6: yes
`},
			want:     []string{`gives eth1 an address (netplan id "eth1")`, `gives eth1 an address (netplan id "any")`},
			evidence: []string{"/etc/netplan/50-cloud-init.yaml:7: dhcp4: true", "/etc/netplan/50-cloud-init.yaml:8: addresses (1)", "/etc/netplan/50-cloud-init.yaml:12: dhcp6: yes"},
		},
		{
			name:  "netplan that does not touch eth1",
			files: map[string]string{"etc/netplan/50-cloud-init.yaml": "network:\n  ethernets:\n    eth0: {dhcp4: true}\n"},
		},
		{
			name:     "ifupdown dhcp on eth1 and no source line",
			files:    map[string]string{"etc/network/interfaces": "auto lo\niface lo inet loopback\n\nallow-hotplug eth1\niface eth1 inet dhcp\n"},
			want:     []string{"configures eth1 with method dhcp", "does not source /etc/network/interfaces.d"},
			evidence: []string{"/etc/network/interfaces:5: iface eth1 inet dhcp"},
		},
		{
			name: "ifupdown with a relative source and a static stanza in interfaces.d",
			files: map[string]string{"etc/network/interfaces": "source interfaces.d/*\n",
				"etc/network/interfaces.d/eth1": "iface eth1 inet static\n  address 192.0.2.5/24\n"},
			want:     []string{"configures eth1 with method static"},
			evidence: []string{"/etc/network/interfaces.d/eth1:1: iface eth1 inet static"},
		},
		{
			name:  "ifupdown with source-directory",
			files: map[string]string{"etc/network/interfaces": "source-directory /etc/network/interfaces.d\niface eth0 inet dhcp\n"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hc, err := Host{Root: writeTree(t, tt.files)}.ReadConfig()
			if err != nil {
				t.Fatal(err)
			}
			ws := configWarnings(hc, "eth1")
			if len(ws) != len(tt.want) {
				t.Fatalf("warnings = %+v, want %q", ws, tt.want)
			}
			var ev []string
			for i, w := range ws {
				if !strings.Contains(w.Message, tt.want[i]) {
					t.Errorf("warning %d = %q, want it to contain %q", i, w.Message, tt.want[i])
				}
				if w.Fix == "" {
					t.Errorf("warning %d has no fix", i)
				}
				ev = append(ev, w.Evidence...)
			}
			for _, e := range tt.evidence {
				if !slices.ContainsFunc(ev, func(s string) bool { return strings.Contains(s, e) }) {
					t.Errorf("evidence %q lacks %q", ev, e)
				}
			}
		})
	}
}

// TestPersistenceConverges writes our file under a temporary root for each
// system through the real plan/apply path, then plans again: nothing left.
func TestPersistenceConverges(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		sys   System
		files map[string]string
		path  string
		mode  os.FileMode
	}{
		{SystemNetworkd, map[string]string{"etc/systemd/network/20-eth0.network": "[Match]\nName=eth0\n"}, NetworkdPath, 0o644},
		{SystemNetplan, map[string]string{"etc/netplan/50-cloud-init.yaml": "network: {version: 2}\n"}, NetplanPath, 0o600},
		{SystemIfupdown, map[string]string{"etc/network/interfaces": "source /etc/network/interfaces.d/*\n"}, IfupdownPath, 0o644},
	} {
		t.Run(string(tc.sys), func(t *testing.T) {
			root := writeTree(t, tc.files)
			h := Host{Root: root, NL: labNL()}
			p, err := h.Prepare(ctx, "", "", Options{})
			if err != nil {
				t.Fatal(err)
			}
			if p.Persistence != tc.sys || len(p.Changes) != 1 || p.Changes[0].Path != tc.path {
				t.Fatalf("plan = %+v", p)
			}
			res, err := h.Apply(ctx, p)
			if err != nil || !res.Changed {
				t.Fatalf("Apply = %+v, %v", res, err)
			}
			st, err := os.Stat(filepath.Join(root, tc.path))
			if err != nil {
				t.Fatal(err)
			}
			if st.Mode().Perm() != tc.mode {
				t.Errorf("mode = %o, want %o", st.Mode().Perm(), tc.mode)
			}
			want, _ := Render(tc.sys, "eth1")
			if got, _ := os.ReadFile(filepath.Join(root, tc.path)); string(got) != want.Content {
				t.Errorf("written content differs:\n%s", got)
			}
			for p, content := range tc.files {
				if got, _ := os.ReadFile(filepath.Join(root, p)); string(got) != content {
					t.Errorf("user's file %s was modified", p)
				}
			}
			again, err := h.Prepare(ctx, "", "", Options{})
			if err != nil {
				t.Fatal(err)
			}
			if len(again.Changes) != 0 {
				t.Errorf("second plan has changes: %v", again.Changes)
			}
			res, err = h.Apply(ctx, p) // the stale plan: must converge too
			if err != nil || res.Changed {
				t.Errorf("stale re-apply = %+v, %v; want no change", res, err)
			}
		})
	}
}
