package doctor

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/stacklab/stacklab/checks"
	"github.com/stacklab/stacklab/installer/inifile"
	"github.com/stacklab/stacklab/installer/openstack"
)

// IDServiceRegion is the check that every service names the lab's region.
const IDServiceRegion = "service-region"

// regionFile is a service configuration that names a region, and the lab
// units that read it (restarted, in the lab's order, after an edit).
type regionFile struct {
	Path  string
	Units []string
}

// regionFiles are the files whose [keystone_authtoken], [placement],
// [neutron], [nova], [glance], [service_user]… sections name a region.
// Only the API processes of neutron read its [nova]/[placement] sections;
// its agents are left alone.
func regionFiles() []regionFile {
	return []regionFile{
		{openstack.NovaConf, []string{"nova-api", "nova-api-metadata", "nova-scheduler", "nova-conductor", "nova-novncproxy", "nova-compute"}},
		{openstack.NeutronConf, []string{"neutron-api", "neutron-rpc-server"}},
		{openstack.GlanceAPIConf, []string{"glance-api"}},
		{openstack.PlacementConf, []string{"placement-api"}},
	}
}

// CinderConf is cinder's configuration: on a lab without it, nova's
// [cinder] section is never used.
const CinderConf = "/etc/cinder/cinder.conf"

// regionKeys are the options that name a region (nova's [cinder] says
// os_region_name).
var regionKeys = []string{"region_name", "os_region_name"}

// RegionSetting is one option naming a region.
type RegionSetting struct {
	File, Section, Key, Value string
}

func (s RegionSetting) String() string {
	return fmt.Sprintf("%s [%s] %s = %s", s.File, s.Section, s.Key, s.Value)
}

// RegionSettings lists the options of an INI file that name a region.
func RegionSettings(file string, data []byte) []RegionSetting {
	return regionSettingsOf(file, inifile.Parse(data))
}

func regionSettingsOf(file string, f *inifile.File) []RegionSetting {
	var out []RegionSetting
	for _, sec := range append([]string{inifile.DefaultSection}, f.Sections()...) {
		for _, k := range regionKeys {
			if v, ok := f.Get(sec, k); ok && strings.TrimSpace(v) != "" {
				out = append(out, RegionSetting{File: file, Section: sec, Key: k, Value: strings.TrimSpace(v)})
			}
		}
	}
	return out
}

// regionMismatchPrefix starts the evidence lines Plan reads.
const regionMismatchPrefix = "mismatch: "

// RegionVerdict compares every region setting with the lab's region, case
// counting: Debian ships region_name = regionOne, the catalog says
// RegionOne, and keystoneauth then finds no endpoint (EndpointNotFound: a
// 500 from keystonemiddleware, nova unable to reach placement). journal
// holds a unit's journal line mentioning EndpointNotFound, by unit;
// restart lists the units to restart after the edit.
func RegionVerdict(region string, settings []RegionSetting, journal map[string]string, restart []string) checks.Result {
	var bad []RegionSetting
	var ev []string
	for _, s := range settings {
		if s.Value != region {
			bad = append(bad, s)
			ev = append(ev, regionMismatchPrefix+s.String())
		}
	}
	if len(bad) == 0 {
		if len(settings) == 0 {
			return checks.Pass("no service names a region of its own (the catalog's is used)")
		}
		return checks.Pass(fmt.Sprintf("%d region setting(s) name the lab's region %s", len(settings), region))
	}
	ev = append(ev, "lab region: "+region+" (keystone's catalog)")
	for _, u := range slices.Sorted(maps.Keys(journal)) {
		ev = append(ev, "journal "+u+": "+journal[u])
	}
	b := bad[0]
	how := ""
	if strings.EqualFold(b.Value, region) {
		how = " (case counts)"
	}
	more := ""
	if len(bad) > 1 {
		more = fmt.Sprintf(" (and %d more)", len(bad)-1)
	}
	var edits []string
	for _, s := range bad {
		edits = append(edits, fmt.Sprintf("set %s = %s in %s [%s]", s.Key, region, s.File, s.Section))
	}
	fix := strings.Join(edits, "\n") + "\nthen systemctl restart " + strings.Join(restart, " ") + "   (or: stacklab doctor --fix)"
	return checks.Failf(fmt.Sprintf("%s [%s] %s = %s%s, but the catalog's region is %s%s: requests fail with EndpointNotFound",
		filepath.Base(b.File), b.Section, b.Key, b.Value, more, region, how), fix, ev...)
}

func (dr *doctor) region() string {
	if dr.cfg.Region != "" {
		return dr.cfg.Region
	}
	return openstack.DefaultRegion
}

// regionUnits are the lab's units that read the files, in start order.
func (dr *doctor) regionUnits(files []string) []string {
	var want []string
	for _, rf := range regionFiles() {
		if slices.Contains(files, rf.Path) {
			want = append(want, rf.Units...)
		}
	}
	var out []string
	for _, u := range dr.cfg.Units {
		if slices.Contains(want, u) {
			out = append(out, u)
		}
	}
	return out
}

// JournalScan is how many journal lines of a unit are searched for
// EndpointNotFound.
const JournalScan = 200

func (dr *doctor) checkRegion(ctx context.Context) checks.Result {
	if r, ok := dr.notLab(); ok {
		return r
	}
	region := dr.region()
	var settings []RegionSetting
	for _, rf := range regionFiles() {
		f, err := readINI(dr.d.Host, rf.Path)
		if err != nil {
			continue // a service the lab does not run
		}
		settings = append(settings, regionSettingsOf(rf.Path, f)...)
	}
	// nova reads [cinder] only to attach volumes: where no cinder runs,
	// Debian's os_region_name = regionOne there breaks nothing (a lab
	// installed by the guide keeps it), and naming it would hide nova
	// behind a false root cause.
	if _, err := dr.d.Host.ReadFile(CinderConf); err != nil {
		settings = slices.DeleteFunc(settings, func(s RegionSetting) bool { return s.Section == "cinder" })
	}
	var files []string
	for _, s := range settings {
		if s.Value != region && !slices.Contains(files, s.File) {
			files = append(files, s.File)
		}
	}
	units := dr.regionUnits(files)
	journal := map[string]string{}
	if len(files) > 0 && dr.d.Units != nil {
		for _, u := range units {
			lines, err := dr.d.Units.JournalTail(ctx, u, JournalScan)
			if err != nil {
				continue
			}
			for _, l := range slices.Backward(lines) {
				if isEndpointNotFound(l) {
					journal[u] = strings.TrimSpace(l)
					break
				}
			}
		}
	}
	return RegionVerdict(region, settings, journal, units)
}

// isEndpointNotFound recognises keystoneauth's exception and nova's
// report client, which catches it and says "The placement API endpoint
// was not found." instead.
func isEndpointNotFound(line string) bool {
	return strings.Contains(line, "EndpointNotFound") || strings.Contains(line, "endpoint was not found")
}

// RegionRepairer is a Repairer that can set the lab's region in the services'
// configuration; optional, as KeystoneURLRepairer is.
type RegionRepairer interface {
	// SetRegion sets every region option that differs from the lab's
	// region, keeping each old file next to it (HorizonBackupSuffix), and
	// returns the files it changed.
	SetRegion(ctx context.Context) ([]string, error)
}

// SetRegionIn returns data with every region option set to region,
// changing only those lines.
func SetRegionIn(data []byte, region string) ([]byte, bool, error) {
	var sets []inifile.Set
	for _, s := range RegionSettings("", data) {
		if s.Value != region {
			sets = append(sets, inifile.Set{Section: s.Section, Key: s.Key, Value: region})
		}
	}
	if len(sets) == 0 {
		return data, false, nil
	}
	f := inifile.Parse(data)
	if err := f.Apply(sets); err != nil {
		return data, false, err
	}
	return f.Bytes(), true, nil
}

func (h HostRepairer) SetRegion(context.Context) ([]string, error) {
	region := h.Lab.Region
	if region == "" {
		region = openstack.DefaultRegion
	}
	var changed []string
	for _, rf := range regionFiles() {
		file := h.Host.path(rf.Path)
		b, err := os.ReadFile(file)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return changed, fmt.Errorf("read %s: %w", rf.Path, err)
		}
		out, ok, err := SetRegionIn(b, region)
		if err != nil {
			return changed, fmt.Errorf("%s: %w", rf.Path, err)
		}
		if !ok {
			continue
		}
		// The file holds the service's passwords: the copy keeps its mode
		// and owner.
		if err := writeLike(file+HorizonBackupSuffix, file, b); err != nil {
			return changed, fmt.Errorf("back up %s: %w", rf.Path, err)
		}
		if err := writeKeepMode(file, out); err != nil {
			return changed, fmt.Errorf("rewrite %s: %w", rf.Path, err)
		}
		changed = append(changed, rf.Path)
	}
	return changed, nil
}

// planRegion sets the region and restarts the units that read the files
// it changed, in the lab's start order.
func planRegion(rep checks.Report, cfg Config, f Repairer) []Repair {
	rf, ok := f.(RegionRepairer)
	e, found := rep.Get(IDServiceRegion)
	if !ok || !found || e.Status != checks.Fail {
		return nil
	}
	dr := &doctor{cfg: cfg}
	var files []string
	for _, l := range e.Evidence {
		if s, ok := strings.CutPrefix(l, regionMismatchPrefix); ok {
			if file, _, ok := strings.Cut(s, " ["); ok && !slices.Contains(files, file) {
				files = append(files, file)
			}
		}
	}
	return []Repair{{For: IDServiceRegion,
		Description: fmt.Sprintf("set the region to %s in %s (the old files kept as *%s) and restart %s",
			dr.region(), strings.Join(files, ", "), HorizonBackupSuffix, strings.Join(dr.regionUnits(files), " ")),
		Run: func(ctx context.Context) error {
			changed, err := rf.SetRegion(ctx)
			if err != nil {
				return err
			}
			for _, u := range dr.regionUnits(changed) {
				if err := f.Restart(ctx, u); err != nil {
					return err
				}
			}
			return nil
		}}}
}
