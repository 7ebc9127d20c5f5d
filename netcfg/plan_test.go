package netcfg

import (
	"encoding/json"
	"net/netip"
	"slices"
	"strings"
	"testing"
)

func networkdHost(own ...ConfigFile) HostConfig {
	return HostConfig{System: SystemNetworkd, Why: []string{"test"}, Own: own}
}

func TestBuildPlan(t *testing.T) {
	persisted, _ := Render(SystemNetworkd, "eth1")
	upLab := func(extAddrs ...string) Snapshot {
		s := labSnap(extAddrs...)
		s.Links[2].Up, s.Links[2].OperState = true, "up"
		return s
	}
	onExtRoute := labSnap("192.168.56.10/24")
	onExtRoute.DefaultRoutes = append(onExtRoute.DefaultRoutes, Route{Family: IPv6, Link: "eth1", Priority: 1024})
	staleMode := persisted
	staleMode.Mode = 0o600
	lay := Layout{Mgmt: "eth0", Ext: "eth1"}

	tests := []struct {
		name         string
		snap         Snapshot
		lay          Layout
		opts         Options
		wantChanges  []string
		wantRefusals int
		wantWarnings []string // substrings, one per expected warning, in order
	}{
		{
			name:        "down, unaddressed, not persisted",
			snap:        labSnap(),
			opts:        Options{Config: networkdHost()},
			wantChanges: []string{"set eth1 up", "write " + NetworkdPath + " (mode 0644)"},
		},
		{
			name: "already converged",
			snap: upLab("fe80::1/64"),
			opts: Options{Config: networkdHost(persisted)},
		},
		{
			name:        "our file with the wrong mode is rewritten",
			snap:        upLab(),
			opts:        Options{Config: networkdHost(staleMode)},
			wantChanges: []string{"write " + NetworkdPath + " (mode 0644)"},
		},
		{
			name:         "addresses kept without --flush-external",
			snap:         upLab("192.168.56.10/24", "2001:db8::10/64", "fe80::1/64"),
			opts:         Options{Config: networkdHost(persisted)},
			wantWarnings: []string{"eth1 keeps its addresses"},
		},
		{
			name:        "addresses removed with --flush-external, link-local kept",
			snap:        upLab("192.168.56.10/24", "2001:db8::10/64", "fe80::1/64"),
			opts:        Options{FlushExternal: true, Config: networkdHost(persisted)},
			wantChanges: []string{"remove 192.168.56.10/24 from eth1", "remove 2001:db8::10/64 from eth1"},
		},
		{
			name:         "refused: ext carries a default route",
			snap:         onExtRoute,
			opts:         Options{FlushExternal: true, Config: networkdHost(persisted)},
			wantChanges:  []string{"set eth1 up", "remove 192.168.56.10/24 from eth1"},
			wantRefusals: 1,
		},
		{
			name:         "refused: the SSH session came in on ext",
			snap:         upLab("192.168.56.10/24"),
			opts:         Options{FlushExternal: true, SSHConnection: "192.168.56.1 51234 192.168.56.10 22", Config: networkdHost(persisted)},
			wantChanges:  []string{"remove 192.168.56.10/24 from eth1"},
			wantRefusals: 1,
		},
		{
			name: "SSH over the management NIC is fine",
			snap: upLab(),
			opts: Options{SSHConnection: "10.0.2.2 51234 10.0.2.15 22", Config: networkdHost(persisted)},
		},
		{
			name:         "refused: ext is the management NIC",
			snap:         labSnap(),
			lay:          Layout{Mgmt: "eth0", Ext: "eth0"},
			opts:         Options{Config: networkdHost()},
			wantChanges:  []string{"write " + NetworkdPath + " (mode 0644)"},
			wantRefusals: 2, // the management NIC, and it carries the default route
			wantWarnings: []string{"eth0 keeps its addresses"},
		},
		{
			name:         "malformed SSH_CONNECTION only warns",
			snap:         upLab(),
			opts:         Options{SSHConnection: "garbage", Config: networkdHost(persisted)},
			wantWarnings: []string{"could not tell which address this SSH session uses"},
		},
		{
			name:         "no configuration system",
			snap:         upLab(),
			opts:         Options{Config: HostConfig{System: SystemNone}},
			wantWarnings: []string{"no network configuration system found"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := lay
			if tt.lay.Ext != "" {
				l = tt.lay
			}
			p, err := BuildPlan(tt.snap, l, tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, c := range p.Changes {
				got = append(got, c.String())
			}
			if !slices.Equal(got, tt.wantChanges) {
				t.Errorf("changes = %q, want %q", got, tt.wantChanges)
			}
			if len(p.Refusals) != tt.wantRefusals {
				t.Errorf("refusals = %q, want %d", p.Refusals, tt.wantRefusals)
			}
			if len(p.Warnings) != len(tt.wantWarnings) {
				t.Fatalf("warnings = %+v, want %q", p.Warnings, tt.wantWarnings)
			}
			for i, w := range tt.wantWarnings {
				if !strings.Contains(p.Warnings[i].Message, w) {
					t.Errorf("warning %d = %q, want it to contain %q", i, p.Warnings[i].Message, w)
				}
			}
		})
	}
}

func TestBuildPlanUnknownExt(t *testing.T) {
	if _, err := BuildPlan(labSnap(), Layout{Mgmt: "eth0", Ext: "eth5"}, Options{}); err == nil {
		t.Fatal("BuildPlan with a missing NIC succeeded")
	}
}

func TestPlanJSONAndRender(t *testing.T) {
	p, err := BuildPlan(labSnap("192.168.56.10/24"), Layout{Mgmt: "eth0", Ext: "eth1", MgmtFrom: "default-route", ExtFrom: "only-candidate"},
		Options{FlushExternal: true, Config: networkdHost()})
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	var back struct {
		Layout  Layout `json:"layout"`
		Changes []struct {
			Action Action       `json:"action"`
			Addr   netip.Prefix `json:"addr"`
		} `json:"changes"`
		Refusals []string `json:"refusals"`
		Ext      Link     `json:"ext"`
	}
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatalf("plan JSON does not round-trip: %v\n%s", err, b)
	}
	if back.Layout.Ext != "eth1" || len(back.Changes) != 3 || back.Changes[1].Addr != netip.MustParsePrefix("192.168.56.10/24") ||
		back.Refusals == nil || back.Ext.Addrs[0].Prefix.String() != "192.168.56.10/24" {
		t.Errorf("unexpected JSON: %s", b)
	}
	if strings.Contains(string(b), `"addr":""`) {
		t.Errorf("empty addr fields must be omitted: %s", b)
	}
	out := p.String()
	t.Log("\n" + out)
	for _, want := range []string{"external NIC:   eth1 (only-candidate)", "+ set eth1 up", "+ remove 192.168.56.10/24 from eth1", "+ write " + NetworkdPath} {
		if !strings.Contains(out, want) {
			t.Errorf("rendered plan lacks %q:\n%s", want, out)
		}
	}
}
