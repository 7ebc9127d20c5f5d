package netcfg

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestIfupdownEditGolden: the stanza that gives eth1 an address becomes
// `inet manual` that still brings the link up; allow-hotplug/auto, the
// comments, eth0's stanza and eth10's (a longer name) are left alone.
func TestIfupdownEditGolden(t *testing.T) {
	for _, name := range []string{"debian-installer", "static-and-inet6"} {
		t.Run(name, func(t *testing.T) {
			in, err := os.ReadFile(filepath.Join("testdata", "ifupdown-edit", name+".in"))
			if err != nil {
				t.Fatal(err)
			}
			want, err := os.ReadFile(filepath.Join("testdata", "ifupdown-edit", name+".golden"))
			if err != nil {
				t.Fatal(err)
			}
			got, ok := ifupdownEdit(string(in), "eth1")
			if !ok || got != string(want) {
				t.Errorf("edit (ok %v):\n%s\nwant:\n%s", ok, got, want)
			}
			// Converged: the edited file needs no edit.
			if again, ok := ifupdownEdit(got, "eth1"); ok || again != got {
				t.Errorf("second edit changed it:\n%s", again)
			}
		})
	}
}

func TestIfupdownEditNothingToDo(t *testing.T) {
	for _, in := range []string{
		"",
		"auto lo\niface lo inet loopback\n",
		"allow-hotplug eth1\niface eth1 inet manual\n",
		"iface eth10 inet dhcp\n",
		"# iface eth1 inet dhcp\n",
	} {
		if got, ok := ifupdownEdit(in, "eth1"); ok || got != in {
			t.Errorf("ifupdownEdit(%q) = %q, %v; want unchanged", in, got, ok)
		}
	}
	// No final newline: none added.
	if got, _ := ifupdownEdit("iface eth1 inet dhcp", "eth1"); got != "iface eth1 inet manual\n    up ip link set dev $IFACE up" {
		t.Errorf("no final newline: %q", got)
	}
}

func TestUnifiedDiff(t *testing.T) {
	before := "auto lo\niface lo inet loopback\n\nallow-hotplug eth1\niface eth1 inet dhcp\n"
	after, _ := ifupdownEdit(before, "eth1")
	want := `--- /etc/network/interfaces
+++ /etc/network/interfaces (stacklab)
@@ -3,3 +3,4 @@
 
 allow-hotplug eth1
-iface eth1 inet dhcp
+iface eth1 inet manual
+    up ip link set dev $IFACE up
`
	if got := unifiedDiff("/etc/network/interfaces", before, after); got != want {
		t.Errorf("diff:\n%s\nwant:\n%s", got, want)
	}
}

func TestBackupPath(t *testing.T) {
	for p, want := range map[string]string{
		"/etc/network/interfaces": "/etc/network/interfaces.stacklab-bak",
		// Debian sources interfaces.d/* at boot: a backup there would
		// bring the old stanza back.
		"/etc/network/interfaces.d/eth1": "/etc/network/interfaces.d-eth1.stacklab-bak",
	} {
		if got := backupPath(p); got != want {
			t.Errorf("backupPath(%s) = %s, want %s", p, got, want)
		}
	}
}

func TestStopDHCP(t *testing.T) {
	tests := []struct {
		name       string
		procs      []Process
		ifupdownUp bool
		want       []string // each change's argv
		refused    bool
	}{
		{name: "dhcpcd (Debian 13) for eth1", procs: []Process{{7, []string{"/usr/sbin/dhcpcd", "-4", "eth0"}}, {8, []string{"dhcpcd", "-4", "-b", "eth1"}}},
			want: []string{"dhcpcd -k eth1"}},
		{name: "dhclient (Debian 12), ifupdown's pidfile", ifupdownUp: true,
			procs: []Process{{9, []string{"/sbin/dhclient", "-4", "-v", "-i", "-pf", "/run/dhclient.eth1.pid", "-lf", "/var/lib/dhcp/dhclient.eth1.leases", "-I", "-df", "/var/lib/dhcp/dhclient6.eth1.leases", "eth1"}}},
			want:  []string{"dhclient -r -pf /run/dhclient.eth1.pid eth1"}},
		{name: "dhclient without -pf", procs: []Process{{9, []string{"dhclient", "eth1"}}},
			want: []string{"dhclient -r -pf /run/dhclient.eth1.pid eth1"}},
		{name: "no client, ifupdown has eth1 up (static, or a dhcpcd manager)", ifupdownUp: true,
			procs: []Process{{10, []string{"dhcpcd", "-b"}}}, want: []string{"ifdown --force eth1"}},
		{name: "nothing runs for eth1", procs: []Process{{11, []string{"dhcpcd", "-4", "eth10"}}, {12, []string{"sshd", "eth1x"}}}},
		{name: "udhcpc is refused", procs: []Process{{13, []string{"udhcpc", "-i", "eth1"}}}, ifupdownUp: true, refused: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ch, refusal := stopDHCP(tt.procs, tt.ifupdownUp, "eth1")
			if (refusal != "") != tt.refused {
				t.Fatalf("refusal = %q", refusal)
			}
			if tt.refused && !strings.Contains(refusal, "PID 13 (udhcpc -i eth1)") {
				t.Errorf("refusal does not name the process: %q", refusal)
			}
			var got []string
			for _, c := range ch {
				if c.Action != ActionStopDHCP || c.Link != "eth1" {
					t.Errorf("change %+v", c)
				}
				got = append(got, strings.Join(c.Argv, " "))
			}
			if strings.Join(got, "|") != strings.Join(tt.want, "|") {
				t.Errorf("argv = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestIfupdownState(t *testing.T) {
	for _, tt := range []struct {
		files map[string]string
		want  bool
	}{
		{map[string]string{"run/network/ifstate.eth1": "eth1\n"}, true},
		{map[string]string{"run/network/ifstate.eth1": ""}, false},
		{map[string]string{"run/network/ifstate": "lo=lo\neth1=eth1\n"}, true},
		{map[string]string{"run/network/ifstate": "lo=lo\neth10=eth10\n"}, false},
		{map[string]string{}, false},
	} {
		got, err := Host{Root: writeTree(t, tt.files)}.ifupdownUp("eth1")
		if err != nil || got != tt.want {
			t.Errorf("%v: ifupdownUp = %v, %v; want %v", tt.files, got, err, tt.want)
		}
	}
}

const debianInterfaces = "source /etc/network/interfaces.d/*\nauto lo\niface lo inet loopback\n\nallow-hotplug eth0\niface eth0 inet dhcp\n\nallow-hotplug eth1\niface eth1 inet dhcp\n"

func ifupdownHost(main string, own bool) HostConfig {
	hc := HostConfig{System: SystemIfupdown, Files: []ConfigFile{{Path: ifupdownMain, Content: main, Mode: 0o644}}}
	if own {
		f, _ := Render(SystemIfupdown, "eth1")
		hc.Own = []ConfigFile{f}
	}
	return hc
}

// TestBuildPlanIfupdownStanza: the user's stanza is the one place for
// eth1; with --flush-external the DHCP client stops first, the stanza is
// edited (diff and backup shown) and an earlier file of ours goes.
func TestBuildPlanIfupdownStanza(t *testing.T) {
	lay := Layout{Mgmt: "eth0", Ext: "eth1"}
	snap := labSnap("192.168.56.10/24")
	snap.Links[2].Up = true
	dhcpcd := []Process{{42, []string{"dhcpcd", "-4", "-b", "eth1"}}}
	edited, _ := ifupdownEdit(debianInterfaces, "eth1")
	tests := []struct {
		name         string
		opts         Options
		want         []Action
		wantWarnings int
	}{
		{name: "flush: stop, remove the address, edit, drop ours",
			opts: Options{FlushExternal: true, Config: ifupdownHost(debianInterfaces, true), Clients: dhcpcd, IfupdownUp: true},
			want: []Action{ActionStopDHCP, ActionAddrDel, ActionEditFile, ActionRemoveFile}},
		{name: "flush, no client but ifupdown has it up: ifdown, then up again",
			opts: Options{FlushExternal: true, Config: ifupdownHost(debianInterfaces, false), IfupdownUp: true},
			want: []Action{ActionStopDHCP, ActionLinkUp, ActionAddrDel, ActionEditFile}},
		{name: "without flush: the edit is shown, nothing of ours is written",
			opts: Options{Config: ifupdownHost(debianInterfaces, false), Clients: dhcpcd, IfupdownUp: true},
			want: nil, wantWarnings: 2},
		{name: "converged: manual stanza, ifupdown state left up, no client",
			opts: Options{FlushExternal: true, Config: ifupdownHost(edited, false), IfupdownUp: true},
			want: nil},
		{name: "no stanza for eth1: our own file, as before",
			opts: Options{FlushExternal: true, Config: ifupdownHost("source /etc/network/interfaces.d/*\n", false)},
			want: []Action{ActionAddrDel, ActionWriteFile}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := snap
			if strings.HasPrefix(tt.name, "converged") {
				s = labSnap()
				s.Links[2].Up = true
			}
			p, err := BuildPlan(s, lay, tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			var got []Action
			for _, c := range p.Changes {
				got = append(got, c.Action)
				if c.Action == ActionEditFile {
					if c.Backup != "/etc/network/interfaces.stacklab-bak" || c.Content != edited ||
						!strings.Contains(c.Diff, "-iface eth1 inet dhcp\n+iface eth1 inet manual\n") {
						t.Errorf("edit = %+v", c)
					}
					if r := c.String(); !strings.Contains(r, "original kept as /etc/network/interfaces.stacklab-bak") || !strings.Contains(r, "+    up ip link set dev $IFACE up") {
						t.Errorf("plan line:\n%s", r)
					}
				}
			}
			if strings.Join(actionStrings(got), ",") != strings.Join(actionStrings(tt.want), ",") {
				t.Errorf("changes %v, want %v\n%s", got, tt.want, p)
			}
			if len(p.Warnings) != tt.wantWarnings {
				t.Errorf("warnings: %+v", p.Warnings)
			}
			if p.Refused() {
				t.Errorf("refused: %v", p.Refusals)
			}
		})
	}
}

func actionStrings(as []Action) []string {
	out := make([]string, 0, len(as))
	for _, a := range as {
		out = append(out, string(a))
	}
	return out
}

func TestNMRefusal(t *testing.T) {
	nm := []Process{{500, []string{"/usr/sbin/NetworkManager", "--no-daemon"}}}
	conf := func(s string) []ConfigFile {
		return []ConfigFile{{Path: "/etc/NetworkManager/conf.d/x.conf", Content: s}}
	}
	tests := []struct {
		name    string
		procs   []Process
		confs   []ConfigFile
		hc      HostConfig
		refused bool
	}{
		{name: "NetworkManager runs, eth1 is its to manage", procs: nm, refused: true},
		{name: "no NetworkManager", procs: []Process{{1, []string{"dhcpcd", "eth0"}}}},
		{name: "ifupdown configures eth1: Debian's NetworkManager leaves it alone", procs: nm, hc: ifupdownHost(debianInterfaces, false)},
		{name: "unmanaged in conf.d", procs: nm, confs: conf("[keyfile]\nunmanaged-devices+=interface-name:eth1\n")},
		{name: "unmanaged among others", procs: nm, confs: conf("[keyfile]\nunmanaged-devices=mac:00:11:22:33:44:55;interface-name:eth1\n")},
		{name: "another NIC unmanaged", procs: nm, confs: conf("[keyfile]\nunmanaged-devices=interface-name:eth10\n"), refused: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := nmRefusal(tt.procs, tt.confs, tt.hc, "eth1")
			if (r != "") != tt.refused {
				t.Fatalf("refusal = %q", r)
			}
			if tt.refused && !strings.Contains(r, "nmcli device set eth1 managed no") {
				t.Errorf("refusal lacks the exact fix: %q", r)
			}
		})
	}
}

// stubbornProcs is a DHCP client that ignores being told to stop.
type stubbornProcs struct{ ran int }

func (s *stubbornProcs) List() ([]Process, error) {
	return []Process{{42, []string{"dhcpcd", "-4", "-b", "eth1"}}}, nil
}
func (s *stubbornProcs) Run(context.Context, []string) error { s.ran++; return nil }

// A client that does not exit is reported, named with its PID and the way
// to stop it by hand, and the apply stops there: nothing after it runs.
func TestStopDHCPClientThatWontStop(t *testing.T) {
	procs := &stubbornProcs{}
	h := Host{Root: t.TempDir(), Procs: procs, StopWait: 50 * time.Millisecond}
	did, err := h.stopDHCPNow(context.Background(), Change{Action: ActionStopDHCP, Link: "eth1", PIDs: []int{42}, Argv: []string{"dhcpcd", "-k", "eth1"}})
	if !errors.Is(err, ErrDHCPClientRunning) || !did || procs.ran != 1 || !strings.Contains(err.Error(), "kill 42") {
		t.Errorf("did %v, err %v, ran %d", did, err, procs.ran)
	}
	// Already gone (another PID now): nothing to run.
	did, err = h.stopDHCPNow(context.Background(), Change{Action: ActionStopDHCP, Link: "eth1", PIDs: []int{7}, Argv: []string{"dhcpcd", "-k", "eth1"}})
	if did || err != nil || procs.ran != 1 {
		t.Errorf("gone client: did %v, err %v, ran %d", did, err, procs.ran)
	}
}
