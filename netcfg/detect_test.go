package netcfg

import (
	"errors"
	"net/netip"
	"slices"
	"testing"
)

// Synthetic snapshot builders, shared by the unit tests of this package.

func nic(name string, index int, up bool, addrs ...string) Link {
	l := Link{Name: name, Index: index, Kind: "device", Up: up, OperState: "up", MTU: 1500, Addrs: []Addr{}}
	if !up {
		l.OperState = "down"
	}
	for _, a := range addrs {
		p := netip.MustParsePrefix(a)
		ad := Addr{Prefix: p, Family: IPv4, Scope: ScopeGlobal}
		if p.Addr().Is6() {
			ad.Family = IPv6
			if p.Addr().IsLinkLocalUnicast() {
				ad.Scope = ScopeLink
			}
		}
		l.Addrs = append(l.Addrs, ad)
	}
	return l
}

func kind(l Link, k string) Link { l.Kind = k; return l }

func defv4(link string, metric int) Route {
	return Route{Family: IPv4, Link: link, Gateway: netip.MustParseAddr("10.0.2.2"), Priority: metric}
}

func lo() Link {
	l := nic("lo", 1, true, "127.0.0.1/8")
	l.Loopback = true
	l.Addrs[0].Scope = ScopeHost
	return l
}

func labSnap(extAddrs ...string) Snapshot {
	return Snapshot{
		Links:         []Link{lo(), nic("eth0", 2, true, "10.0.2.15/24"), nic("eth1", 3, false, extAddrs...)},
		DefaultRoutes: []Route{defv4("eth0", 0)},
	}
}

func TestDetect(t *testing.T) {
	enslaved := nic("eth2", 5, true)
	enslaved.Master, enslaved.MasterKind = "bond0", "bond"
	tests := []struct {
		name       string
		snap       Snapshot
		mgmt, ext  string
		want       Layout
		wantErr    error
		candidates []string
	}{
		{name: "lab VM", snap: labSnap(), want: Layout{Mgmt: "eth0", Ext: "eth1", MgmtFrom: "default-route", ExtFrom: "only-candidate"}},
		{name: "VirtualBox names", snap: Snapshot{
			Links:         []Link{lo(), nic("enp0s3", 2, true, "10.0.2.15/24"), nic("enp0s8", 3, true)},
			DefaultRoutes: []Route{defv4("enp0s3", 100)},
		}, want: Layout{Mgmt: "enp0s3", Ext: "enp0s8", MgmtFrom: "default-route", ExtFrom: "only-candidate"}},
		{name: "veth NICs and neutron's own links are ignored", snap: Snapshot{
			Links: []Link{lo(), kind(nic("eth0", 2, true, "10.0.2.15/24"), "veth"), kind(nic("eth1", 3, true), "veth"),
				kind(nic("brq1234", 4, true), "bridge"), kind(nic("vxlan-100", 5, true), "vxlan"), kind(nic("tap0ab", 6, true), "tuntap"),
				kind(nic("veth12", 7, true), "veth"), kind(nic("virbr0", 8, true), "bridge"), kind(nic("dummy0", 9, true), "dummy"),
				kind(nic("ifb0", 10, true), "ifb"), nic("wlan0", 11, true), nic("docker0", 12, true), kind(nic("eth9", 13, true), "bridge")},
			DefaultRoutes: []Route{defv4("eth0", 0)},
		}, want: Layout{Mgmt: "eth0", Ext: "eth1", MgmtFrom: "default-route", ExtFrom: "only-candidate"}},
		{name: "bond slave is not a candidate", snap: Snapshot{
			Links:         []Link{lo(), nic("eth0", 2, true, "10.0.2.15/24"), nic("eth1", 3, true), enslaved},
			DefaultRoutes: []Route{defv4("eth0", 0)},
		}, want: Layout{Mgmt: "eth0", Ext: "eth1", MgmtFrom: "default-route", ExtFrom: "only-candidate"}},
		{name: "lowest metric default route wins", snap: Snapshot{
			Links:         []Link{nic("eth0", 2, true, "10.0.2.15/24"), nic("eth1", 3, true, "192.168.1.5/24")},
			DefaultRoutes: []Route{defv4("eth0", 200), defv4("eth1", 100)},
		}, want: Layout{Mgmt: "eth1", Ext: "eth0", MgmtFrom: "default-route", ExtFrom: "only-candidate"}},
		{name: "overrides win", snap: labSnap(), mgmt: "eth1", ext: "eth0", want: Layout{Mgmt: "eth1", Ext: "eth0", MgmtFrom: "override", ExtFrom: "override"}},
		{name: "only one NIC", snap: Snapshot{Links: []Link{lo(), nic("eth0", 2, true, "10.0.2.15/24")}, DefaultRoutes: []Route{defv4("eth0", 0)}}, wantErr: ErrNoExternalNIC},
		{name: "two candidates", snap: Snapshot{
			Links:         []Link{lo(), nic("ens33", 2, true, "10.0.2.15/24"), nic("ens34", 3, true), nic("ens35", 4, true)},
			DefaultRoutes: []Route{defv4("ens33", 0)},
		}, wantErr: ErrAmbiguousExternal, candidates: []string{"ens34", "ens35"}},
		{name: "no default route", snap: Snapshot{Links: []Link{lo(), nic("eth0", 2, true), nic("eth1", 3, true)}}, wantErr: ErrNoDefaultRoute},
		{name: "IPv6-only default route does not count", snap: Snapshot{
			Links:         []Link{nic("eth0", 2, true), nic("eth1", 3, true)},
			DefaultRoutes: []Route{{Family: IPv6, Link: "eth0"}},
		}, wantErr: ErrNoDefaultRoute},
		{name: "unknown --ext-if", snap: labSnap(), ext: "eth7", wantErr: ErrNoSuchInterface},
		{name: "unknown --mgmt-if", snap: labSnap(), mgmt: "eth7", wantErr: ErrNoSuchInterface},
		{name: "--ext-if is the management NIC", snap: labSnap(), ext: "eth0", wantErr: ErrExternalIsMgmt},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Detect(tt.snap, tt.mgmt, tt.ext)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Detect() error = %v, want %v", err, tt.wantErr)
			}
			if tt.wantErr != nil {
				var de *DetectError
				if !errors.As(err, &de) {
					t.Fatalf("error %T is not a *DetectError", err)
				}
				if !slices.Equal(de.Candidates, tt.candidates) {
					t.Errorf("candidates = %v, want %v", de.Candidates, tt.candidates)
				}
				return
			}
			if got != tt.want {
				t.Errorf("Detect() = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestDetectErrorMessages(t *testing.T) {
	_, err := Detect(Snapshot{
		Links:         []Link{nic("ens33", 2, true, "10.0.2.15/24"), nic("ens34", 3, true), nic("ens35", 4, true)},
		DefaultRoutes: []Route{defv4("ens33", 0)},
	}, "", "")
	want := "netcfg: external NIC: more than one NIC could be the external NIC (ens34, ens35); pass --ext-if NAME to choose"
	if err == nil || err.Error() != want {
		t.Errorf("error = %v\nwant    %s", err, want)
	}
}
