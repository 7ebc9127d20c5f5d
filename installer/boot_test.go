package installer

import (
	"slices"
	"strings"
	"testing"

	"github.com/stacklab/stacklab/installer/openstack"
	"github.com/stacklab/stacklab/internal/fix"
)

// Debian leaves placement-api and neutron's units disabled and enables
// units the lab does not use; after install every lab unit starts at boot
// and no unwanted one does (issue 17: the lab did not survive a reboot).
func TestInstallEnablesLabUnitsAndDisablesUnwanted(t *testing.T) {
	m := installed(t)
	log := m.TakeLog()
	for _, u := range openstack.Units(m.p) {
		if st := m.UnitFiles[u]; st != "enabled" {
			t.Errorf("%s: unit file %q after install, want enabled", u, st)
		}
	}
	for _, u := range openstack.UnwantedUnits(m.p) {
		if st := m.UnitFiles[u]; st != "disabled" {
			t.Errorf("unwanted %s: unit file %q after install, want disabled", u, st)
		}
	}
	if got := filter(log, "enable "); !slices.Contains(got, "placement-api") || !slices.Contains(got, "neutron-api") {
		t.Errorf("enabled %v, want placement-api and neutron-api among them", got)
	}
	// A unit is enabled once its tier started: a unit of a later tier is
	// not enabled before an earlier tier answers.
	if e, s := slices.Index(log, "enable placement-api"), slices.Index(log, "start placement-api"); e < s {
		t.Errorf("placement-api enabled (at %d) before its tier started (at %d)", e, s)
	}
}

func TestRerunEnablesADisabledUnitAndStopsAnUnwantedOne(t *testing.T) {
	m := installed(t)
	m.UnitFiles["neutron-l3-agent"] = "disabled"
	m.Units["haproxy"], m.UnitFiles["haproxy"] = "active", "enabled"
	m.ResetLog()
	res, err := runLab(t, m, true, Selection{})
	if err != nil {
		t.Fatalf("dry run: %v", err)
	}
	if len(m.TakeLog()) != 0 {
		t.Fatal("the dry run changed something")
	}
	plan := strings.Join(allChanges(res), "\n")
	for _, want := range []string{"enable neutron-l3-agent (start at boot)", "stop haproxy (the lab does not use it)", "disable haproxy (the lab does not use them)"} {
		if !strings.Contains(plan, want) {
			t.Errorf("dry run plan lacks %q:\n%s", want, plan)
		}
	}
	if _, err := runLab(t, m, false, Selection{}); err != nil {
		t.Fatalf("re-run: %v", err)
	}
	if got, want := m.TakeLog(), []string{"enable neutron-l3-agent", "stop haproxy", "disable haproxy"}; !slices.Equal(got, want) {
		t.Errorf("re-run did %q, want %q", got, want)
	}
	if m.UnitFiles["neutron-l3-agent"] != "enabled" || m.Units["haproxy"] != "inactive" || m.UnitFiles["haproxy"] != "disabled" {
		t.Errorf("after re-run: l3 %s, haproxy %s/%s", m.UnitFiles["neutron-l3-agent"], m.Units["haproxy"], m.UnitFiles["haproxy"])
	}
	if _, err := runLab(t, m, false, Selection{}); err != nil || len(m.TakeLog()) != 0 {
		t.Errorf("third run: %v, log %q; want nothing to do", err, m.Log)
	}
}

// verify alone (install --only verify) names a unit that would not start
// at boot, with the fix.
func TestVerifyFailsOnAUnitThatWouldNotStartAtBoot(t *testing.T) {
	m := installed(t)
	m.UnitFiles["placement-api"] = "disabled"
	_, err := runLab(t, m, false, Selection{Only: []string{PhaseVerify}})
	if err == nil || !strings.Contains(err.Error(), "placement-api (disabled)") {
		t.Fatalf("verify = %v, want placement-api (disabled) named", err)
	}
	if !strings.Contains(fix.Of(err), "stacklab install") {
		t.Errorf("verify's error has no fix: %v", err)
	}
}

// Writing the boot-order drop-ins makes systemd re-read them; a re-run that
// writes none does not.
func TestBootOrderDropInsAreWrittenAndReloaded(t *testing.T) {
	m := NewMemHost(labParams())
	if _, err := runLab(t, m, false, Selection{}); err != nil {
		t.Fatal(err)
	}
	if m.Reloads == 0 {
		t.Error("drop-ins written without a daemon-reload")
	}
	if _, ok := m.Files[openstack.BootOrderPath("nova-conductor")]; !ok {
		t.Error("no boot-order drop-in for nova-conductor")
	}
	m.Reloads = 0
	if _, err := runLab(t, m, false, Selection{}); err != nil {
		t.Fatal(err)
	}
	if m.Reloads != 0 {
		t.Errorf("a re-run with nothing to write reloaded systemd %d times", m.Reloads)
	}
}

func allChanges(r RunResult) []string {
	var out []string
	for _, p := range r.Phases {
		out = append(out, p.Changes...)
	}
	return out
}
