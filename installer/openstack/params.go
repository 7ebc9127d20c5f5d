package openstack

import (
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"strings"
)

// Defaults for the fields a caller usually does not choose.
const (
	DefaultRegion      = "RegionOne"
	DefaultProviderNet = "provider"
	DefaultWebRoot     = "/horizon"
	DefaultAdminUser   = "admin"
	DefaultProject     = "admin"
)

// Compute drivers nova can be configured with.
const (
	ComputeLibvirt = "libvirt"
	ComputeFake    = "fake"
)

// Libvirt virtualisation types. Use kvm only where the CPU flags say so and
// a probe succeeded ("/dev/kvm proves nothing" in the notes).
const (
	VirtKVM  = "kvm"
	VirtQEMU = "qemu"
)

// Params is everything the rendered lab depends on. The host-facing code
// fills it from readings (management address, MTU, CPU count) and the
// secret store; this package only validates and renders it.
type Params struct {
	Hostname string
	// MgmtIP is eth0's address: every API endpoint, VNC, memcached and
	// the vxlan underlay use it.
	MgmtIP string
	// ExtIf is the external NIC (UP, no address) the flat provider
	// network is bridged to.
	ExtIf  string
	Region string
	// ComputeDriver is ComputeLibvirt or ComputeFake.
	ComputeDriver string
	// VirtType is VirtKVM or VirtQEMU (TCG); only used with libvirt, but
	// it also picks the hypervisor package nova-compute needs.
	VirtType string
	// ProviderNet is the ML2 physical network name of the flat external
	// network ("provider").
	ProviderNet string
	// Release is the host's Debian VERSION_ID ("" is DefaultRelease):
	// it decides the default and the refused neutron backends.
	Release string
	// NeutronBackend names the ML2 backend; "" means the release's
	// default (see Release).
	NeutronBackend string
	// OVSDatapath is DatapathSystem or DatapathNetdev, chosen by what
	// the host's kernel really offers; used with openvswitch only.
	OVSDatapath string
	// MTU is the underlay (management NIC) MTU; neutron's
	// global_physnet_mtu is set from it.
	MTU int
	// Workers is the process count per service (see WorkersFor).
	Workers int
	// KeystoneThreads, when > 0, replaces the threads per keystone uwsgi
	// process (Debian: 32). 0 keeps Debian's value. A knob for the
	// unsolved keystone worker deadlock in the notes.
	KeystoneThreads int
	// HorizonWebRoot is the URL path Horizon answers at ("/horizon").
	HorizonWebRoot string
	TimeZone       string
	// CgroupControllersReadOnly is true where the cgroup v1 controllers
	// are mounted read-only (nspawn lab hosts): libvirt must then not
	// use any controller.
	CgroupControllersReadOnly bool
	// WithClient installs python3-openstackclient explicitly (it is
	// pulled in by neutron-api anyway on Debian 12).
	WithClient bool

	AdminUser    string
	AdminProject string

	Secrets
}

// Secrets are the passwords of the lab. They are restricted to URL
// unreserved characters (see Validate) so they can be put verbatim into
// connection URLs, oslo.config values (where '$' would interpolate), debconf
// answers and Python string literals.
type Secrets struct {
	AdminPassword    string
	KeystoneDB       string
	GlanceDB         string
	GlanceUser       string
	PlacementDB      string
	PlacementUser    string
	NovaDB           string
	NovaUser         string
	NeutronDB        string
	NeutronUser      string
	Rabbit           string
	MetadataSecret   string
	HorizonSecretKey string
}

// Values returns every non-empty secret, for log redaction.
func (s Secrets) Values() []string {
	all := []string{
		s.AdminPassword, s.KeystoneDB, s.GlanceDB, s.GlanceUser,
		s.PlacementDB, s.PlacementUser, s.NovaDB, s.NovaUser,
		s.NeutronDB, s.NeutronUser, s.Rabbit, s.MetadataSecret,
		s.HorizonSecretKey,
	}
	out := all[:0]
	for _, v := range all {
		if v != "" {
			out = append(out, v)
		}
	}
	return out
}

func (s Secrets) named() []struct{ name, value string } {
	return []struct{ name, value string }{
		{"AdminPassword", s.AdminPassword}, {"KeystoneDB", s.KeystoneDB},
		{"GlanceDB", s.GlanceDB}, {"GlanceUser", s.GlanceUser},
		{"PlacementDB", s.PlacementDB}, {"PlacementUser", s.PlacementUser},
		{"NovaDB", s.NovaDB}, {"NovaUser", s.NovaUser},
		{"NeutronDB", s.NeutronDB}, {"NeutronUser", s.NeutronUser},
		{"Rabbit", s.Rabbit}, {"MetadataSecret", s.MetadataSecret},
		{"HorizonSecretKey", s.HorizonSecretKey},
	}
}

// WorkersFor fits the per-service worker count to the host. Debian's
// defaults (uwsgi processes=8, nova-api 16, conductor/scheduler = CPU
// count) take ~10 GB and >5 min to restart on 2 cores ("Worker counts" in
// the notes). One worker per two cores, at most 4: measured on a 2-core
// Debian 13 lab, one worker instead of two took the lab's resident memory
// from 7.0 to 4.9 GiB (every API and RPC process imports its service
// anew), and a lab serves one student.
func WorkersFor(cpus int) int {
	return min(max(cpus/2, 1), 4)
}

var (
	secretRE = regexp.MustCompile(`^[A-Za-z0-9._~-]{8,}$`)
	nameRE   = regexp.MustCompile(`^[A-Za-z0-9_.-]+$`)
	ifnameRE = regexp.MustCompile(`^[A-Za-z0-9_.@-]{1,15}$`)
	tzRE     = regexp.MustCompile(`^[A-Za-z0-9_+/-]+$`)
)

// Validate reports every problem with p at once.
func (p Params) Validate() error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if !nameRE.MatchString(p.Hostname) {
		bad("hostname %q: want letters, digits, '-', '_' or '.'", p.Hostname)
	}
	if a, err := netip.ParseAddr(p.MgmtIP); err != nil || !a.Is4() {
		bad("management IP %q: want an IPv4 address", p.MgmtIP)
	}
	if !ifnameRE.MatchString(p.ExtIf) {
		bad("external interface %q: not an interface name", p.ExtIf)
	}
	if !nameRE.MatchString(p.Region) {
		bad("region %q: want letters, digits, '-', '_' or '.'", p.Region)
	}
	if !nameRE.MatchString(p.ProviderNet) {
		bad("provider network %q: want letters, digits, '-', '_' or '.'", p.ProviderNet)
	}
	switch p.ComputeDriver {
	case ComputeLibvirt, ComputeFake:
	default:
		bad("compute driver %q: want %q or %q", p.ComputeDriver, ComputeLibvirt, ComputeFake)
	}
	switch p.VirtType {
	case VirtKVM, VirtQEMU:
	default:
		bad("virt type %q: want %q or %q", p.VirtType, VirtKVM, VirtQEMU)
	}
	if b, err := p.backend(); err != nil {
		errs = append(errs, err)
	} else if len(b.SwitchUnits()) > 0 && p.OVSDatapath != DatapathSystem && p.OVSDatapath != DatapathNetdev {
		bad("OVS datapath %q: want %q (kernel module) or %q (userspace)", p.OVSDatapath, DatapathSystem, DatapathNetdev)
	}
	// vxlan costs 50 bytes; neutron needs 1280 left for IPv6 subnets.
	if p.MTU < 1280+50 || p.MTU > 9216 {
		bad("underlay MTU %d: want 1330..9216", p.MTU)
	}
	if p.Workers < 1 || p.Workers > 64 {
		bad("workers %d: want 1..64", p.Workers)
	}
	if p.KeystoneThreads < 0 || p.KeystoneThreads > 64 {
		bad("keystone threads %d: want 0..64", p.KeystoneThreads)
	}
	if !strings.HasPrefix(p.HorizonWebRoot, "/") || p.HorizonWebRoot == "/" ||
		strings.HasSuffix(p.HorizonWebRoot, "/") || !nameRE.MatchString(strings.ReplaceAll(p.HorizonWebRoot[1:], "/", "")) {
		bad("horizon web root %q: want a path like %q", p.HorizonWebRoot, DefaultWebRoot)
	}
	if !tzRE.MatchString(p.TimeZone) {
		bad("time zone %q: want a zone name like UTC or Europe/Paris", p.TimeZone)
	}
	if !nameRE.MatchString(p.AdminUser) {
		bad("admin user %q: want letters, digits, '-', '_' or '.'", p.AdminUser)
	}
	if !nameRE.MatchString(p.AdminProject) {
		bad("admin project %q: want letters, digits, '-', '_' or '.'", p.AdminProject)
	}
	for _, s := range p.Secrets.named() {
		if !secretRE.MatchString(s.value) {
			bad("secret %s: want at least 8 of A-Z a-z 0-9 . _ ~ -", s.name)
		}
	}
	return errors.Join(errs...)
}
