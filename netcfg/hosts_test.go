package netcfg

import (
	"net/netip"
	"os"
	"strings"
	"testing"
)

const debianHosts = "127.0.0.1\tlocalhost\n127.0.1.1\tlab.example.org\tlab\n\n# The following lines are desirable for IPv6 capable hosts\n::1     localhost ip6-localhost ip6-loopback\nff02::1 ip6-allnodes\n"

func TestHostsEdit(t *testing.T) {
	mgmt := netip.MustParseAddr("10.0.2.15")
	tests := []struct {
		name, host, in, want string
		changed              bool
	}{
		{name: "Debian installer's 127.0.1.1", host: "lab", in: debianHosts, changed: true,
			want: strings.Replace(debianHosts, "127.0.1.1\tlab.example.org", "10.0.2.15\tlab.example.org", 1)},
		{name: "fully qualified hostname", host: "lab.example.org", in: "127.0.1.1 lab.example.org lab # installer\n", changed: true,
			want: "10.0.2.15 lab.example.org lab # installer\n"},
		{name: "hostname on the localhost line", host: "lab", in: "127.0.0.1 localhost lab\n", changed: true,
			want: "127.0.0.1\tlocalhost\n10.0.2.15\tlab\n"},
		{name: "not in the file at all: appended", host: "lab", in: "127.0.0.1 localhost", changed: true,
			want: "127.0.0.1 localhost\n10.0.2.15\tlab\n"},
		{name: "empty file", host: "lab.example.org", in: "", changed: true, want: "10.0.2.15\tlab.example.org lab\n"},
		{name: "mgmt line already there: the loopback one goes", host: "lab", in: "127.0.1.1 lab\n10.0.2.15 lab\n", changed: true,
			want: "10.0.2.15 lab\n"},
		{name: "an old address of eth0", host: "lab", in: "192.168.1.7 lab\n", changed: true, want: "10.0.2.15 lab\n"},
		{name: "already right", host: "lab", in: "127.0.0.1 localhost\n10.0.2.15 lab.example.org lab\n2001:db8::15 lab\n"},
		{name: "other hosts untouched", host: "lab", in: "10.0.2.15 lab\n127.0.1.1 lab2 # not us\n"},
		{name: "case-insensitive", host: "Lab", in: "10.0.2.15 LAB\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := hostsEdit(tt.in, tt.host, mgmt)
			if ok != tt.changed {
				t.Errorf("changed = %v, want %v", ok, tt.changed)
			}
			want := tt.want
			if !tt.changed {
				want = tt.in
			}
			if got != want {
				t.Errorf("got:\n%q\nwant:\n%q", got, want)
			}
			if again, ok := hostsEdit(got, tt.host, mgmt); ok || again != got {
				t.Errorf("second edit changed it: %q", again)
			}
		})
	}
}

// TestHostsFixTempRoot applies the planned edit to a temp root: backup of
// the original, the edit, and nothing the second time.
func TestHostsFixTempRoot(t *testing.T) {
	root := writeTree(t, map[string]string{"etc/hosts": debianHosts})
	h := Host{Root: root}
	hosts, err := h.readFile(HostsPath)
	if err != nil {
		t.Fatal(err)
	}
	s := labSnap()
	lay := Layout{Mgmt: "eth0", Ext: "eth1"}
	p, err := BuildPlan(s, lay, Options{Hostname: "lab", Hosts: hosts})
	if err != nil {
		t.Fatal(err)
	}
	var c *Change
	for i := range p.Changes {
		if p.Changes[i].Path == HostsPath {
			c = &p.Changes[i]
		}
	}
	if c == nil || !strings.Contains(p.String(), "edit /etc/hosts (original kept as /etc/hosts.stacklab-bak)") ||
		!strings.Contains(c.Diff, "-127.0.1.1\tlab.example.org\tlab\n+10.0.2.15\tlab.example.org\tlab\n") {
		t.Fatalf("plan:\n%s", p)
	}
	for range 2 {
		if _, err := h.editFile(*c); err != nil {
			t.Fatal(err)
		}
	}
	for p, want := range map[string]string{"etc/hosts": c.Content, "etc/hosts.stacklab-bak": debianHosts} {
		if b, err := os.ReadFile(root + "/" + p); err != nil || string(b) != want {
			t.Errorf("%s = %q, %v", p, b, err)
		}
	}
	if did, err := h.editFile(*c); did || err != nil {
		t.Errorf("third apply did %v, %v", did, err)
	}
	again, _ := h.readFile(HostsPath)
	if p, _ := BuildPlan(s, lay, Options{Hostname: "lab", Hosts: again}); strings.Contains(p.String(), HostsPath) {
		t.Errorf("second plan:\n%s", p)
	}
	// No /etc/hosts at all: a warning with the whole file to write, no
	// file of only our line.
	if p, _ := BuildPlan(s, lay, Options{Hostname: "lab", Hosts: ConfigFile{Path: HostsPath}}); strings.Contains(p.String(), "edit "+HostsPath) ||
		!strings.Contains(p.String(), "127.0.0.1\\tlocalhost\\n10.0.2.15\\tlab") {
		t.Errorf("plan without /etc/hosts:\n%s", p)
	}
	// Someone edits the file between plan and apply: refused, not lost.
	if err := os.WriteFile(root+"/etc/hosts", []byte("10.9.9.9 lab\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	stale := *c
	stale.Before = debianHosts
	if _, err := h.editFile(stale); err == nil || !strings.Contains(err.Error(), "changed since") {
		t.Errorf("stale edit: %v", err)
	}
}
