package main

import (
	"slices"
	"strings"
	"testing"

	"github.com/stacklab/stacklab/installer/openstack"
	"github.com/stacklab/stacklab/lab"
)

// On a Debian 13 host the uninstall command resolves the lab from the
// host's facts (release, OVS datapath) as install does, so it deletes the
// lab's OVS bridges before the switch stops and removes the database the
// purge leaves.
func TestUninstallOnDebian13DeletesTheOVSBridgesAndDatabase(t *testing.T) {
	l := newInstallLab(t)
	l.facts = func(f *lab.Facts) { f.Release, f.OVSDatapath = "13", openstack.DatapathNetdev }
	if r := l.run(t, "install", "--yes"); r.code != exitOK {
		t.Fatalf("install: exit %d\nstdout %s\nstderr %s", r.code, r.stdout, r.stderr)
	}
	for _, b := range []string{openstack.IntegrationBridge, openstack.ExternalBridge} {
		if _, ok := l.mem.Bridges[b]; !ok {
			t.Fatalf("install made no %s: %v", b, l.mem.Bridges)
		}
	}
	l.mem.Files[openstack.OVSDBFile] = []byte("OVSDB JSON")
	l.mem.TakeLog()

	r := l.run(t, "uninstall", "--yes")
	if r.code != exitOK {
		t.Fatalf("uninstall: exit %d\nstdout %s\nstderr %s", r.code, r.stdout, r.stderr)
	}
	if len(l.mem.Bridges) != 0 {
		t.Errorf("bridges left: %v", l.mem.Bridges)
	}
	if _, ok := l.mem.Files[openstack.OVSDBFile]; ok {
		t.Errorf("%s left behind", openstack.OVSDBFile)
	}
	log := l.mem.TakeLog()
	agent, br, sw := slices.Index(log, "stop "+openstack.UnitOVSAgent), slices.Index(log, "delete bridge "+openstack.ExternalBridge), slices.Index(log, "stop "+openstack.UnitOVSSwitch)
	if agent < 0 || br < 0 || sw < 0 || agent > br || br > sw {
		t.Errorf("stop agent at %d, delete %s at %d, stop %s at %d in %q", agent, openstack.ExternalBridge, br, openstack.UnitOVSSwitch, sw, log)
	}
	if !strings.Contains(r.stdout, "delete bridge "+openstack.ExternalBridge) {
		t.Errorf("output does not list the bridge's deletion:\n%s", r.stdout)
	}
}
