package doctor

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"regexp"
	"strings"

	"github.com/stacklab/stacklab/checks"
	"github.com/stacklab/stacklab/installer/labstate"
	"github.com/stacklab/stacklab/internal/systemd"
)

// Disk thresholds, in percent used.
const (
	DiskWarn = 85.0
	DiskFail = 95.0
)

// JournalLines is how much of a failed unit's journal is evidence.
const JournalLines = 8

func (dr *doctor) hostChecks() []checks.Check {
	list := []checks.Check{
		{ID: IDLabHost, Title: "this is the lab host", Run: dr.checkLabHost},
		{ID: IDDisk, Title: "disk space of the lab's file systems", DependsOn: []string{IDLabHost}, Run: dr.checkDisk},
		{ID: IDMgmtAddress, Title: "the management address is the one the lab was installed with", DependsOn: []string{IDLabHost}, Run: dr.checkMgmtAddress},
		dr.bootCheck(),
	}
	// A unit that did not start at boot because it is not enabled is the
	// cause of the rest being down: one finding, not one per unit.
	for _, u := range dr.cfg.Units {
		list = append(list, checks.Check{
			ID: UnitID(u), Title: "systemd unit " + u, DependsOn: []string{IDLabHost, IDBoot},
			Run: func(ctx context.Context) checks.Result { return dr.checkUnit(ctx, u) },
		})
	}
	list = append(list, checks.Check{
		ID: IDVirtType, Title: "nova's virt_type suits this host", DependsOn: []string{IDLabHost}, Run: dr.checkVirtType,
	})
	return list
}

func (dr *doctor) checkLabHost(ctx context.Context) checks.Result {
	if dr.cfg.Lab && dr.cfg.HandMade {
		return checks.Pass("a lab installed by hand (read from its configuration), management address "+dr.cfg.MgmtIP,
			append([]string{"units: " + strings.Join(dr.cfg.Units, " ")}, dr.cfg.Found...)...)
	}
	if dr.cfg.Lab {
		return checks.Pass("lab host, management address "+dr.cfg.MgmtIP, "units: "+strings.Join(dr.cfg.Units, " "))
	}
	if dr.cfg.NotLabReason == "" {
		return checks.Skipped("remote cloud: host checks do not apply")
	}
	return checks.Failf("not a stacklab lab host: "+dr.cfg.NotLabReason,
		"run stacklab doctor on the lab host (as root), or check a cloud's APIs from here with --cloud NAME",
		dr.cfg.NotLabReason)
}

// DiskVerdict grades the usage of each path: fail at DiskFail, warn at
// DiskWarn. Paths that do not exist are not the lab's and are left out.
func DiskVerdict(usage map[string]float64, order []string) checks.Result {
	var ev, bad []string
	worst := checks.OK
	for _, p := range order {
		u, ok := usage[p]
		if !ok {
			continue
		}
		ev = append(ev, fmt.Sprintf("%s: %.0f %% used", p, u))
		switch {
		case u >= DiskFail:
			worst = checks.Fail
			bad = append(bad, fmt.Sprintf("%s %.0f %%", p, u))
		case u >= DiskWarn:
			if worst != checks.Fail {
				worst = checks.Warn
			}
			bad = append(bad, fmt.Sprintf("%s %.0f %%", p, u))
		}
	}
	fix := "free space: journalctl --vacuum-size=200M; apt-get clean; delete unused images (openstack image list) and instances"
	switch worst {
	case checks.Fail:
		return checks.Failf("file system almost full: "+strings.Join(bad, ", "), fix, ev...)
	case checks.Warn:
		return checks.Warnf("file system filling up: "+strings.Join(bad, ", "), fix, ev...)
	}
	return checks.Pass("enough free space", ev...)
}

func (dr *doctor) checkDisk(context.Context) checks.Result {
	if r, ok := dr.notLab(); ok {
		return r
	}
	usage := map[string]float64{}
	var errs []string
	for _, p := range dr.cfg.DiskPaths {
		u, err := dr.d.Host.DiskUsage(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue // not on this host: not the lab's
		}
		if err != nil {
			errs = append(errs, fmt.Sprintf("%s: %v", p, err))
			continue
		}
		usage[p] = u
	}
	r := DiskVerdict(usage, dr.cfg.DiskPaths)
	r.Evidence = append(r.Evidence, errs...)
	return r
}

func (dr *doctor) unitStates(ctx context.Context) (map[string]systemd.UnitState, error) {
	return dr.states.get(ctx, func(ctx context.Context) (map[string]systemd.UnitState, error) {
		if dr.d.Units == nil {
			return nil, fmt.Errorf("no connection to systemd")
		}
		list, err := dr.d.Units.States(ctx, dr.cfg.Units...)
		if err != nil {
			return nil, err
		}
		m := make(map[string]systemd.UnitState, len(list))
		for _, s := range list {
			m[strings.TrimSuffix(s.Name, ".service")] = s
		}
		return m, nil
	})
}

// UnitVerdict grades one unit's state; journal is its last lines.
func UnitVerdict(unit string, s systemd.UnitState, journal []string) checks.Result {
	if !s.Found() {
		return checks.Failf(unit+" is not installed", "stacklab install --yes", "load state: "+s.LoadState)
	}
	if s.Active() {
		return checks.Pass(unit+" is "+s.ActiveState+"/"+s.SubState, s.String())
	}
	ev := []string{s.String()}
	if s.Result != "" && s.Result != "success" {
		ev = append(ev, "last result: "+s.Result)
	}
	for _, l := range journal {
		ev = append(ev, "journal: "+l)
	}
	what := unit + " is " + s.ActiveState + "/" + s.SubState
	if s.LoadState == "masked" {
		return checks.Failf(what+" (masked)", "systemctl unmask "+unit+" && systemctl start "+unit, ev...)
	}
	fix := "systemctl restart " + unit + "   (or: stacklab doctor --fix)"
	if sig, ok := MatchSignature(journal); ok {
		return checks.Failf(what+": "+sig.Meaning, sig.Fix+"\n"+fix, append(ev, "known problem: "+sig.Match)...)
	}
	if afix, ok := ApacheSyntaxFix(journal); ok {
		return checks.Failf(what+": its configuration does not parse", afix, ev...)
	}
	return checks.Failf(what, fix, ev...)
}

func (dr *doctor) checkUnit(ctx context.Context, unit string) checks.Result {
	if r, ok := dr.notLab(); ok {
		return r
	}
	states, err := dr.unitStates(ctx)
	if err != nil {
		return checks.Failf("cannot read unit states: "+err.Error(), "run as root on the lab host", err.Error())
	}
	s, ok := states[unit]
	if !ok {
		return checks.Failf(unit+": systemd reported nothing", "systemctl status "+unit)
	}
	var journal []string
	if !s.Active() && s.Found() && dr.d.Units != nil {
		journal, _ = dr.d.Units.JournalTail(ctx, unit, JournalLines)
	}
	// A failed apache2 is most often a configuration that does not parse;
	// the apache check, which reads Apache's parse (apache2ctl -t, shared
	// through apacheDump), is skipped behind this one, so the unit's
	// verdict carries the parse's file and line itself. The lines keep the
	// "apache2ctl configtest:" label users know; -t is configtest.
	if unit == "apache2" && !s.Active() && s.Found() && dr.d.Host != nil {
		if out, err := dr.apacheDump(ctx); err != nil {
			for _, l := range apacheErrors(out) {
				journal = append(journal, "apache2ctl configtest: "+l)
			}
		}
	}
	return UnitVerdict(unit, s, journal)
}

// VirtVerdict compares nova's virt_type with what the host supports.
func VirtVerdict(configured, host, reason string) checks.Result {
	ev := []string{"nova virt_type: " + configured, "host supports: " + host + " (" + reason + ")"}
	switch {
	case configured == "":
		return checks.Skipped("nova's virt_type is not set (not libvirt)")
	case configured == "kvm" && host != "kvm":
		return checks.Failf("nova uses kvm but this host has no usable KVM",
			"set virt_type = qemu in [libvirt] of /etc/nova/nova-compute.conf and /etc/nova/nova.conf, then systemctl restart nova-compute", ev...)
	case configured == "qemu" && host == "kvm":
		return checks.Warnf("nova uses qemu (slow TCG) though KVM is usable", "set virt_type = kvm in [libvirt], then systemctl restart nova-compute", ev...)
	}
	return checks.Pass("virt_type "+configured+" suits this host", ev...)
}

var virtTypeRE = regexp.MustCompile(`(?m)^\s*virt_type\s*=\s*(\S+)`)

func (dr *doctor) checkVirtType(context.Context) checks.Result {
	if r, ok := dr.notLab(); ok {
		return r
	}
	configured := dr.cfg.VirtType
	for _, f := range []string{"/etc/nova/nova.conf", "/etc/nova/nova-compute.conf"} {
		if b, err := dr.d.Host.ReadFile(f); err == nil {
			if m := virtTypeRE.FindSubmatch(b); m != nil {
				configured = string(m[1])
			}
		}
	}
	return VirtVerdict(configured, dr.cfg.HostVirt, dr.cfg.HostReason)
}

var openstackHostRE = regexp.MustCompile(`(?m)^OPENSTACK_HOST\s*=\s*['"]([^'"]+)['"]`)

// MgmtAddressVerdict compares the address the lab was installed with with
// the current one; source says where the installed address was read, and
// note (when not empty) why that source is a second-best one.
func MgmtAddressVerdict(installed, source, current, note string) checks.Result {
	ev := []string{"installed with " + installed + " (" + source + ")", "current management address " + current}
	if note != "" {
		ev = append(ev, note)
	}
	switch {
	case installed == "":
		return checks.Skipped("no record of the address the lab was installed with", ev[1:]...)
	case installed != current:
		return checks.Failf("the management address changed: installed with "+installed+", now "+current,
			"stacklab install --yes   (re-renders every service for the new address), then stacklab doctor --fix (re-points the catalog)", ev...)
	}
	return checks.Pass("unchanged: "+current, ev...)
}

func (dr *doctor) stateFile() string {
	if dr.cfg.StateFile != "" {
		return dr.cfg.StateFile
	}
	return labstate.DefaultPath
}

// checkMgmtAddress reads the address stacklab install recorded. Labs
// installed before the installer kept that record fall back to Horizon's
// OPENSTACK_HOST, which the install also rendered but anyone may edit;
// the evidence says which was used.
func (dr *doctor) checkMgmtAddress(context.Context) checks.Result {
	if r, ok := dr.notLab(); ok {
		return r
	}
	file := dr.stateFile()
	b, err := dr.d.Host.ReadFile(file)
	if err == nil {
		st, derr := labstate.Decode(b)
		if derr == nil {
			return MgmtAddressVerdict(st.MgmtIP, "recorded by stacklab install in "+file, dr.cfg.MgmtIP, "")
		}
		err = derr
	}
	why := err.Error()
	if errors.Is(err, fs.ErrNotExist) {
		why = "the lab was installed before stacklab recorded its address"
	}
	note := "no usable " + file + " (" + why + "): fell back to Horizon's OPENSTACK_HOST, which an edit of " +
		HorizonSettingsFiles[0] + " changes; stacklab install --yes writes the record"
	hb, herr := dr.d.Host.ReadFile(HorizonSettingsFiles[0])
	if herr != nil {
		return checks.Skipped("no record of the address the lab was installed with", note, herr.Error())
	}
	installed := ""
	if m := openstackHostRE.FindSubmatch(hb); m != nil {
		installed = string(m[1])
	}
	return MgmtAddressVerdict(installed, "Horizon's OPENSTACK_HOST in "+HorizonSettingsFiles[0], dr.cfg.MgmtIP, note)
}
