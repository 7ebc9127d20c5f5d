package lab

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/stacklab/stacklab/checks/host"
	"github.com/stacklab/stacklab/checks/nics"
	"github.com/stacklab/stacklab/installer/config"
	"github.com/stacklab/stacklab/installer/openstack"
	"github.com/stacklab/stacklab/netcfg"
)

// Facts are what the model reads from the machine.
type Facts struct {
	Hostname   string
	MgmtIP     string
	ExtIf      string
	MTU        int
	CPUs       int
	VirtType   string
	VirtReason string
	// CgroupRO: the cgroup v1 controllers are mounted read-only (an
	// nspawn lab host); libvirt must then use none.
	CgroupRO bool
	// Gateway is the IPv4 default route's gateway: 10.0.2.2 says the
	// management address is VirtualBox NAT's, unreachable from the laptop.
	Gateway string
	// Release is the Debian VERSION_ID ("" off Debian: the install's
	// validation or preflight refuses that host).
	Release string
	// OVSDatapath and its reason, when the lab runs on Open vSwitch.
	OVSDatapath, OVSReason string
}

// Network is the slice of netcfg.Host facts are read from.
type Network interface {
	Links(ctx context.Context) (netcfg.Snapshot, error)
}

// Host is where facts come from; the zero Hostname and MountInfo read this
// machine's, so tests replace only what they fake.
type Host struct {
	Network  Network
	Readings host.Readings
	// Hostname defaults to os.Hostname.
	Hostname func() (string, error)
	// MountInfo defaults to /proc/self/mountinfo.
	MountInfo string
	// Modules decide Open vSwitch's datapath; nil is this machine's.
	Modules host.Modules
}

// Facts reads the NIC layout (with the configuration's NIC choice), the
// CPU and the virtualisation of the host.
func (h Host) Facts(ctx context.Context, cfg config.Config) (Facts, error) {
	var f Facts
	hostname := h.Hostname
	if hostname == nil {
		hostname = os.Hostname
	}
	name, err := hostname()
	if err != nil {
		return f, fmt.Errorf("hostname: %w", err)
	}
	f.Hostname = name
	snap, err := h.Network.Links(ctx)
	if err != nil {
		return f, fmt.Errorf("read the NICs: %w", err)
	}
	lay, err := netcfg.Detect(snap, cfg.Network.ManagementInterface, cfg.Network.ExternalInterface)
	if err != nil {
		return f, err
	}
	f.ExtIf = lay.Ext
	if r, ok := snap.DefaultIPv4(); ok && r.Gateway.IsValid() {
		f.Gateway = r.Gateway.String()
	}
	if l, ok := snap.Link(lay.Mgmt); ok {
		f.MTU = l.MTU
	}
	if cfg.Network.ManagementAddress == "" {
		ip, err := nics.MgmtIPv4From(snap, nics.Options{MgmtIf: lay.Mgmt})
		if err != nil {
			return f, err
		}
		f.MgmtIP = ip.String()
	}
	if cpu, err := h.Readings.CPU(); err == nil {
		f.CPUs = cpu.Count
	}
	if cfg.Compute.VirtType == config.VirtAuto {
		f.VirtType, f.VirtReason = host.VirtType(h.Readings)
	}
	mi := h.MountInfo
	if mi == "" {
		mi = "/proc/self/mountinfo"
	}
	f.CgroupRO = cgroupV1ReadOnly(mi)
	f.Release = Release(h.Readings)
	// Only a lab on Open vSwitch probes (and may load) the module.
	if b, err := openstack.ResolveBackend(f.Release, NeutronBackend(cfg)); err == nil && len(b.SwitchUnits()) > 0 {
		mods := h.Modules
		if mods == nil {
			mods = host.SystemModules{}
		}
		f.OVSDatapath, f.OVSReason = host.OVSDatapath(ctx, mods)
	}
	return f, nil
}

// Release is the host's Debian VERSION_ID ("" when unreadable or not
// Debian): the per-release knowledge in installer/openstack keys on it.
func Release(r host.Readings) string {
	o, err := r.OS()
	if err != nil || o.ID != "debian" {
		return ""
	}
	return o.VersionID
}

// NeutronBackend is the configured backend as Params wants it ("" for
// auto: the release decides).
func NeutronBackend(cfg config.Config) string {
	if cfg.OpenStack.NeutronBackend == config.BackendAuto {
		return ""
	}
	return string(cfg.OpenStack.NeutronBackend)
}

// cgroupV1ReadOnly reports whether a cgroup v1 controller hierarchy is
// mounted read-only, as systemd-nspawn does: libvirt then fails with
// "Failed to create v1 controller cpu for group: Read-only file system".
func cgroupV1ReadOnly(mountinfo string) bool {
	data, err := os.ReadFile(mountinfo)
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(data), "\n") {
		// ID parent maj:min root mountpoint options ... - fstype source superoptions
		pre, post, ok := strings.Cut(line, " - ")
		if !ok {
			continue
		}
		fields, pf := strings.Fields(pre), strings.Fields(post)
		if len(fields) < 6 || len(pf) < 1 || pf[0] != "cgroup" {
			continue
		}
		for _, o := range strings.Split(fields[5], ",") {
			if o == "ro" {
				return true
			}
		}
	}
	return false
}
