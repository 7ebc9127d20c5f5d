package netcfg

import (
	"strings"
	"testing"
)

// Where we do not edit the user's file (systemd-networkd, netplan), a
// setting that gives the external NIC an address turns --flush-external
// into a refusal with the exact fix: removing the address would not last.
// Without the flag it stays a warning, as before.
func TestFlushRefusedWhereTheUsersFileReaddsTheAddress(t *testing.T) {
	lay := Layout{Mgmt: "eth0", Ext: "eth1"}
	snap := labSnap("192.168.56.10/24")
	tests := []struct {
		name string
		hc   HostConfig
		fix  string
	}{
		{"networkd DHCP=yes", HostConfig{System: SystemNetworkd, Files: []ConfigFile{
			{Path: "/etc/systemd/network/05-eth1.network", Content: "[Match]\nName=eth1\n[Network]\nDHCP=yes\n"}}},
			"networkctl reload && networkctl reconfigure eth1"},
		{"netplan dhcp4", HostConfig{System: SystemNetplan, Files: []ConfigFile{
			{Path: "/etc/netplan/50-cloud-init.yaml", Content: "network:\n  version: 2\n  ethernets:\n    eth1:\n      dhcp4: true\n"}}},
			"netplan apply"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := BuildPlan(snap, lay, Options{FlushExternal: true, Config: tt.hc})
			if err != nil {
				t.Fatal(err)
			}
			if !p.Refused() || !strings.Contains(strings.Join(p.Refusals, "\n"), tt.fix) {
				t.Errorf("refusals = %q", p.Refusals)
			}
			p, err = BuildPlan(snap, lay, Options{Config: tt.hc})
			if err != nil {
				t.Fatal(err)
			}
			if p.Refused() || len(p.Warnings) < 2 {
				t.Errorf("without --flush-external: refusals %q, warnings %+v", p.Refusals, p.Warnings)
			}
		})
	}
}
