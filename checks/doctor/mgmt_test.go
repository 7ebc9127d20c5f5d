package doctor

import (
	"context"
	"strings"
	"testing"

	"github.com/stacklab/stacklab/checks"
	"github.com/stacklab/stacklab/installer/labstate"
)

// The installed address comes from the install's record; Horizon's
// OPENSTACK_HOST is only the fallback for labs installed before the record
// existed, and the evidence says which was read.
func TestMgmtAddressCheck(t *testing.T) {
	const settings = "/etc/openstack-dashboard/local_settings.py"
	record := func(ip string) string { return string(labstate.State{MgmtIP: ip}.Encode()) }
	tests := []struct {
		name     string
		files    map[string]string
		stateCfg string // Config.StateFile
		want     checks.Status
		evidence []string // each must appear in the evidence
		absent   []string // none of these may
	}{
		{"recorded, unchanged", map[string]string{labstate.DefaultPath: record("10.0.0.2")}, "",
			checks.OK, []string{"installed with 10.0.0.2 (recorded by stacklab install in " + labstate.DefaultPath + ")"}, []string{"fell back"}},
		{"recorded, moved", map[string]string{labstate.DefaultPath: record("10.0.0.9")}, "",
			checks.Fail, []string{"installed with 10.0.0.9 (recorded"}, nil},
		{"record wins over an edited Horizon", map[string]string{
			labstate.DefaultPath: record("10.0.0.2"), settings: "OPENSTACK_HOST = '10.0.0.99'\n"}, "",
			checks.OK, []string{"recorded by stacklab install"}, []string{"OPENSTACK_HOST"}},
		{"record in a configured state dir", map[string]string{"/srv/state/state.json": record("10.0.0.9")}, "/srv/state/state.json",
			checks.Fail, []string{"recorded by stacklab install in /srv/state/state.json"}, nil},
		{"old lab: Horizon fallback, unchanged", map[string]string{settings: "OPENSTACK_HOST = \"10.0.0.2\"\n"}, "",
			checks.OK, []string{"(Horizon's OPENSTACK_HOST in " + settings + ")", "installed before stacklab recorded its address", "fell back"}, nil},
		{"old lab: Horizon fallback, moved", map[string]string{settings: "OPENSTACK_HOST = '10.0.0.9'\n"}, "",
			checks.Fail, []string{"installed with 10.0.0.9 (Horizon's OPENSTACK_HOST", "fell back"}, nil},
		{"torn record: fallback says why", map[string]string{labstate.DefaultPath: `{"mgmt_ip": "10.0`, settings: "OPENSTACK_HOST = '10.0.0.2'\n"}, "",
			checks.OK, []string{"no usable " + labstate.DefaultPath + " (lab state:", "fell back"}, nil},
		{"no record, no Horizon", map[string]string{}, "",
			checks.Skip, []string{"fell back"}, nil},
		{"no record, Horizon without OPENSTACK_HOST", map[string]string{settings: "DEBUG = False\n"}, "",
			checks.Skip, []string{"fell back"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dr := &doctor{cfg: Config{Lab: true, MgmtIP: "10.0.0.2", StateFile: tt.stateCfg}, d: Deps{Host: fakeHost{files: tt.files}}}
			r := dr.checkMgmtAddress(context.Background())
			ev := strings.Join(r.Evidence, "\n")
			if r.Status != tt.want {
				t.Fatalf("status %s (%s), want %s; evidence:\n%s", r.Status, r.Summary, tt.want, ev)
			}
			for _, s := range tt.evidence {
				if !strings.Contains(ev, s) {
					t.Errorf("evidence lacks %q:\n%s", s, ev)
				}
			}
			for _, s := range tt.absent {
				if strings.Contains(ev, s) {
					t.Errorf("evidence has %q:\n%s", s, ev)
				}
			}
		})
	}
}
