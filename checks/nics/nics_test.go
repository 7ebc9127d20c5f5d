package nics

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/stacklab/stacklab/checks"
	"github.com/stacklab/stacklab/netcfg"
	"github.com/stacklab/stacklab/netcfg/netcfgtest"
)

type fixedSource struct {
	snap netcfg.Snapshot
	err  error
}

func (f fixedSource) Links(context.Context) (netcfg.Snapshot, error) { return f.snap, f.err }

func link(name string, up bool, oper string, addrs ...string) netcfg.Link {
	l := netcfg.Link{Name: name, Kind: "device", Up: up, OperState: oper, MTU: 1500, Addrs: []netcfg.Addr{}}
	for _, a := range addrs {
		p := netip.MustParsePrefix(a)
		ad := netcfg.Addr{Prefix: p, Family: netcfg.IPv4, Scope: netcfg.ScopeGlobal}
		if p.Addr().Is6() {
			ad.Family = netcfg.IPv6
			if p.Addr().IsLinkLocalUnicast() {
				ad.Scope = netcfg.ScopeLink
			}
		}
		l.Addrs = append(l.Addrs, ad)
	}
	return l
}

func route(dev string) netcfg.Route {
	return netcfg.Route{Family: netcfg.IPv4, Link: dev, Gateway: netip.MustParseAddr("10.0.2.2")}
}

type verdicts map[string]checks.Status

func run(t *testing.T, src Source, opts Options) checks.Report {
	t.Helper()
	rep, err := checks.Run(context.Background(), Checks(src, opts), checks.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func assertVerdicts(t *testing.T, rep checks.Report, want verdicts, fixWants map[string]string) {
	t.Helper()
	for _, e := range rep.Entries {
		if e.Status != want[e.ID] {
			t.Errorf("%s = %s (%s), want %s; evidence %q", e.ID, e.Status, e.Summary, want[e.ID], e.Evidence)
		}
		if (e.Status == checks.Fail || e.Status == checks.Warn) && len(e.Evidence) == 0 {
			t.Errorf("%s is %s without evidence", e.ID, e.Status)
		}
		if (e.Status == checks.Fail || e.Status == checks.Warn) && e.Fix == "" {
			t.Errorf("%s is %s without a fix", e.ID, e.Status)
		}
		if w, ok := fixWants[e.ID]; ok && !strings.Contains(e.Fix, w) {
			t.Errorf("%s fix = %q, want it to contain %q", e.ID, e.Fix, w)
		}
	}
	if len(rep.Entries) != len(want) {
		t.Errorf("got %d checks, want %d", len(rep.Entries), len(want))
	}
}

func allOK() verdicts {
	return verdicts{IDMgmt: checks.OK, IDExt: checks.OK, IDExtUp: checks.OK, IDExtNoAddr: checks.OK}
}

func TestChecksSynthetic(t *testing.T) {
	lo := link("lo", true, "unknown", "127.0.0.1/8")
	lo.Loopback = true
	mgmt := link("eth0", true, "up", "10.0.2.15/24")
	lab := func(ext netcfg.Link) netcfg.Snapshot {
		return netcfg.Snapshot{Links: []netcfg.Link{lo, mgmt, ext}, DefaultRoutes: []netcfg.Route{route("eth0")}}
	}
	bridged := link("eth1", true, "up")
	bridged.Master, bridged.MasterKind = "br0", "bridge"
	neutronBridged := link("eth1", true, "up")
	neutronBridged.Master, neutronBridged.MasterKind = "brq1234", "bridge"
	tests := []struct {
		name string
		src  fixedSource
		opts Options
		want verdicts
		fix  map[string]string
	}{
		{name: "lab ok", src: fixedSource{snap: lab(link("eth1", true, "up"))}, want: allOK()},
		{name: "ext down", src: fixedSource{snap: lab(link("eth1", false, "down"))},
			want: verdicts{IDMgmt: checks.OK, IDExt: checks.OK, IDExtUp: checks.Fail, IDExtNoAddr: checks.OK},
			fix:  map[string]string{IDExtUp: "ip link set dev eth1 up"}},
		{name: "ext no carrier", src: fixedSource{snap: lab(link("eth1", true, "lowerlayerdown"))},
			want: verdicts{IDMgmt: checks.OK, IDExt: checks.OK, IDExtUp: checks.Warn, IDExtNoAddr: checks.OK}},
		{name: "ext addressed", src: fixedSource{snap: lab(link("eth1", true, "up", "192.168.56.10/24", "fe80::1/64"))},
			want: verdicts{IDMgmt: checks.OK, IDExt: checks.OK, IDExtUp: checks.OK, IDExtNoAddr: checks.Fail},
			fix:  map[string]string{IDExtNoAddr: "ip addr flush dev eth1 scope global"}},
		{name: "ext in a foreign bridge", src: fixedSource{snap: lab(bridged)},
			want: verdicts{IDMgmt: checks.OK, IDExt: checks.Warn, IDExtUp: checks.OK, IDExtNoAddr: checks.OK},
			fix:  map[string]string{IDExt: "ip link set dev eth1 nomaster"}},
		{name: "ext in neutron's bridge (doctor after install)", src: fixedSource{snap: lab(neutronBridged)}, want: allOK()},
		{name: "one NIC", src: fixedSource{snap: netcfg.Snapshot{Links: []netcfg.Link{lo, mgmt}, DefaultRoutes: []netcfg.Route{route("eth0")}}},
			want: verdicts{IDMgmt: checks.OK, IDExt: checks.Fail, IDExtUp: checks.Skip, IDExtNoAddr: checks.Skip},
			fix:  map[string]string{IDExt: "VirtualBox: Settings > Network > Adapter 2"}},
		{name: "two candidates", src: fixedSource{snap: netcfg.Snapshot{Links: []netcfg.Link{lo, mgmt, link("eth1", true, "up"), link("eth2", true, "up")}, DefaultRoutes: []netcfg.Route{route("eth0")}}},
			want: verdicts{IDMgmt: checks.OK, IDExt: checks.Fail, IDExtUp: checks.Skip, IDExtNoAddr: checks.Skip},
			fix:  map[string]string{IDExt: "--ext-if eth2"}},
		{name: "--ext-if chooses among two", src: fixedSource{snap: netcfg.Snapshot{Links: []netcfg.Link{lo, mgmt, link("eth1", true, "up"), link("eth2", true, "up", "192.0.2.1/24")}, DefaultRoutes: []netcfg.Route{route("eth0")}}},
			opts: Options{ExtIf: "eth2"},
			want: verdicts{IDMgmt: checks.OK, IDExt: checks.OK, IDExtUp: checks.OK, IDExtNoAddr: checks.Fail},
			fix:  map[string]string{IDExtNoAddr: "dev eth2"}},
		{name: "no default route", src: fixedSource{snap: netcfg.Snapshot{Links: []netcfg.Link{lo, link("eth0", true, "up", "10.0.2.15/24"), link("eth1", true, "up")}}},
			want: verdicts{IDMgmt: checks.Fail, IDExt: checks.Skip, IDExtUp: checks.Skip, IDExtNoAddr: checks.Skip},
			fix:  map[string]string{IDMgmt: "--mgmt-if"}},
		{name: "mgmt without IPv4", src: fixedSource{snap: netcfg.Snapshot{Links: []netcfg.Link{lo, link("eth0", true, "up", "fe80::1/64"), link("eth1", true, "up")}, DefaultRoutes: []netcfg.Route{route("eth0")}}},
			want: verdicts{IDMgmt: checks.Fail, IDExt: checks.Skip, IDExtUp: checks.Skip, IDExtNoAddr: checks.Skip}},
		{name: "--mgmt-if off the default route", src: fixedSource{snap: netcfg.Snapshot{Links: []netcfg.Link{lo, mgmt, link("eth1", true, "up", "192.0.2.1/24"), link("eth2", true, "up")}, DefaultRoutes: []netcfg.Route{route("eth1")}}},
			opts: Options{MgmtIf: "eth0", ExtIf: "eth2"},
			want: verdicts{IDMgmt: checks.Warn, IDExt: checks.OK, IDExtUp: checks.OK, IDExtNoAddr: checks.OK}},
		{name: "--ext-if carries the default route", src: fixedSource{snap: netcfg.Snapshot{Links: []netcfg.Link{lo, mgmt, link("eth1", true, "up", "192.0.2.1/24")}, DefaultRoutes: []netcfg.Route{route("eth1")}}},
			opts: Options{MgmtIf: "eth0", ExtIf: "eth1"},
			want: verdicts{IDMgmt: checks.Warn, IDExt: checks.Fail, IDExtUp: checks.Skip, IDExtNoAddr: checks.Skip}},
		{name: "--ext-if unknown", src: fixedSource{snap: lab(link("eth1", true, "up"))}, opts: Options{ExtIf: "eth7"},
			want: verdicts{IDMgmt: checks.OK, IDExt: checks.Fail, IDExtUp: checks.Skip, IDExtNoAddr: checks.Skip}},
		{name: "netlink unreadable", src: fixedSource{err: errors.New("netlink: permission denied")},
			want: verdicts{IDMgmt: checks.Fail, IDExt: checks.Skip, IDExtUp: checks.Skip, IDExtNoAddr: checks.Skip}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assertVerdicts(t, run(t, tt.src, tt.opts), tt.want, tt.fix)
		})
	}
}

func TestMgmtIPv4(t *testing.T) {
	s := netcfg.Snapshot{
		Links:         []netcfg.Link{link("eth0", true, "up", "fe80::1/64", "10.0.2.15/24", "10.0.2.16/24"), link("eth1", true, "up")},
		DefaultRoutes: []netcfg.Route{route("eth0")},
	}
	ip, err := MgmtIPv4(context.Background(), fixedSource{snap: s}, Options{})
	if err != nil || ip != netip.MustParseAddr("10.0.2.15") {
		t.Errorf("MgmtIPv4 = %v, %v", ip, err)
	}
	if _, err := MgmtIPv4From(s, Options{MgmtIf: "eth1"}); err == nil {
		t.Error("an unaddressed --mgmt-if gave an address")
	}
	if _, err := MgmtIPv4From(netcfg.Snapshot{Links: s.Links}, Options{}); !errors.Is(err, netcfg.ErrNoDefaultRoute) {
		t.Errorf("no default route: err = %v", err)
	}
}

// Real kernel: one namespace per case, shaped like the lab VMs users bring.
func TestChecksKernel(t *testing.T) {
	base := func(t *testing.T, mgmt, ext string) *netcfgtest.Lab {
		lab := netcfgtest.New(t)
		lab.NIC(mgmt)
		lab.Up(mgmt)
		lab.Addr(mgmt, "10.0.2.15/24")
		lab.DefaultRoute(mgmt, "10.0.2.2")
		if ext != "" {
			lab.NIC(ext)
		}
		return lab
	}
	tests := []struct {
		name  string
		setup func(t *testing.T) *netcfgtest.Lab
		want  verdicts
		fix   map[string]string
	}{
		{name: "eth0 + bare eth1 up", setup: func(t *testing.T) *netcfgtest.Lab {
			lab := base(t, "eth0", "eth1")
			lab.Up("eth1")
			lab.WaitOperUp("eth1")
			return lab
		}, want: allOK()},
		{name: "eth1 with IPv4", setup: func(t *testing.T) *netcfgtest.Lab {
			lab := base(t, "eth0", "eth1")
			lab.Up("eth1")
			lab.Addr("eth1", "192.168.56.10/24")
			lab.WaitOperUp("eth1")
			return lab
		}, want: verdicts{IDMgmt: checks.OK, IDExt: checks.OK, IDExtUp: checks.OK, IDExtNoAddr: checks.Fail},
			fix: map[string]string{IDExtNoAddr: "stacklab net apply --flush-external"}},
		{name: "VirtualBox enp0s3/enp0s8", setup: func(t *testing.T) *netcfgtest.Lab {
			lab := base(t, "enp0s3", "enp0s8")
			lab.Up("enp0s8")
			lab.WaitOperUp("enp0s8")
			return lab
		}, want: allOK()},
		{name: "only one NIC", setup: func(t *testing.T) *netcfgtest.Lab { return base(t, "eth0", "") },
			want: verdicts{IDMgmt: checks.OK, IDExt: checks.Fail, IDExtUp: checks.Skip, IDExtNoAddr: checks.Skip},
			fix:  map[string]string{IDExt: "KVM/virt-manager: Add Hardware > Network"}},
		{name: "ext down", setup: func(t *testing.T) *netcfgtest.Lab { return base(t, "eth0", "eth1") },
			want: verdicts{IDMgmt: checks.OK, IDExt: checks.OK, IDExtUp: checks.Fail, IDExtNoAddr: checks.OK},
			fix:  map[string]string{IDExtUp: "ip link set dev eth1 up"}},
		{name: "ext with only link-local IPv6", setup: func(t *testing.T) *netcfgtest.Lab {
			lab := base(t, "eth0", "eth1")
			lab.Up("eth1")
			lab.Addr("eth1", "fe80::56:1/64")
			lab.WaitOperUp("eth1")
			return lab
		}, want: allOK()},
		{name: "ext with global IPv6", setup: func(t *testing.T) *netcfgtest.Lab {
			lab := base(t, "eth0", "eth1")
			lab.Up("eth1")
			lab.Addr("eth1", "2001:db8:56::10/64")
			lab.WaitOperUp("eth1")
			return lab
		}, want: verdicts{IDMgmt: checks.OK, IDExt: checks.OK, IDExtUp: checks.OK, IDExtNoAddr: checks.Fail},
			fix: map[string]string{IDExtNoAddr: "ip addr flush dev eth1 scope global"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lab := tt.setup(t)
			src := netcfg.Host{NL: lab.NL}
			assertVerdicts(t, run(t, src, Options{}), tt.want, tt.fix)
			if tt.want[IDMgmt] == checks.OK {
				ip, err := MgmtIPv4(context.Background(), src, Options{})
				if err != nil || ip.String() != "10.0.2.15" {
					t.Errorf("MgmtIPv4 = %v, %v", ip, err)
				}
			}
		})
	}
}
