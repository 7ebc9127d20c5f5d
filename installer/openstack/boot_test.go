package openstack

import (
	"slices"
	"strings"
	"testing"
)

// The boot order is a real order: every tier waits only for tiers install
// brings up before it, so the two orders never contradict each other and
// systemd finds no ordering cycle.
func TestBootOrderFollowsInstallOrder(t *testing.T) {
	for _, p := range paramVariants() {
		tiers := Tiers(p)
		seen := map[string]bool{}
		for _, tr := range tiers {
			for _, a := range tr.After {
				if !seen[a] {
					t.Errorf("tier %s waits at boot for %s, which install brings up later (or never)", tr.Name, a)
				}
			}
			if tr.Name != TierInfra && len(tr.After) == 0 {
				t.Errorf("tier %s starts at boot with nothing before it", tr.Name)
			}
			seen[tr.Name] = true
		}
	}
}

func TestBootOrderDropIns(t *testing.T) {
	p := sampleParams()
	files := map[string]File{}
	for _, f := range Files(p) {
		if f.SystemdUnit {
			files[f.Path] = f
		}
	}
	tiers := Tiers(p)
	byName := map[string]Tier{}
	for _, tr := range tiers {
		byName[tr.Name] = tr
	}
	for _, tr := range tiers {
		for _, u := range tr.Units {
			f, ok := files[BootOrderPath(u)]
			if tr.Name == TierInfra {
				if ok {
					t.Errorf("%s: infra needs no boot order, got %s", u, f.Path)
				}
				continue
			}
			if !ok {
				t.Errorf("%s has no boot-order drop-in", u)
				continue
			}
			if f.Kind != Text || f.Mode != 0o644 || len(f.Units) != 0 {
				t.Errorf("%s: kind %s mode %o units %v; want a 0644 text file restarting nothing", f.Path, f.Kind, f.Mode, f.Units)
			}
			after := afterLine(f.Content)
			for _, a := range tr.After {
				for _, dep := range byName[a].Units {
					if !slices.Contains(after, dep+".service") {
						t.Errorf("%s: After= lacks %s (tier %s)", f.Path, dep, a)
					}
				}
			}
			if !strings.Contains(f.Content, "TimeoutStartSec="+BootTimeout+"\n") {
				t.Errorf("%s: no TimeoutStartSec=%s", f.Path, BootTimeout)
			}
		}
	}
	// nova's control services wait for placement: without it they crash-loop.
	if after := afterLine(files[BootOrderPath("nova-conductor")].Content); !slices.Contains(after, "placement-api.service") {
		t.Errorf("nova-conductor starts at boot before placement-api: After=%v", after)
	}
}

func afterLine(content string) []string {
	for _, l := range strings.Split(content, "\n") {
		if v, ok := strings.CutPrefix(l, "After="); ok {
			return strings.Fields(v)
		}
	}
	return nil
}

func TestUnwantedUnitsAreNotLabUnits(t *testing.T) {
	p := sampleParams()
	for _, u := range UnwantedUnits(p) {
		if slices.Contains(Units(p), u) {
			t.Errorf("%s is both a lab unit and unwanted", u)
		}
	}
	for _, want := range []string{"nova-serialproxy", "nova-spicehtml5proxy", "haproxy", "keepalived", "radvd", "libvirt-guests", "open-iscsi"} {
		if !slices.Contains(UnwantedUnits(p), want) {
			t.Errorf("UnwantedUnits lacks %s", want)
		}
	}
}
