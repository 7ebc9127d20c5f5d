package config

import (
	"cmp"
	"errors"
	"fmt"
	"net/netip"
	"path"
	"regexp"
	"slices"
	"strings"
)

var (
	// Linux interface names: at most 15 bytes (IFNAMSIZ-1), no '/', ':' or
	// whitespace.
	ifaceRe = regexp.MustCompile(`^[A-Za-z0-9_.@-]{1,15}$`)
	// Neutron physnet and Keystone region names end up in INI values and
	// URLs; keep them to characters that need no quoting anywhere.
	nameRe     = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
	identRe    = regexp.MustCompile(`^[A-Za-z0-9_.@-]{1,64}$`)
	timeZoneRe = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+)*$`)
	webRootRe  = regexp.MustCompile(`^(/[A-Za-z0-9._~-]+)+$`)
)

// Validate checks every value; errors name the file and line the bad value
// came from.
func (c Config) Validate() error {
	return joinErrors(c.validate())
}

func (c Config) validate() []*Error {
	var errs []*Error
	bad := func(key, format string, a ...any) {
		e := &Error{Key: key, Kind: ErrValue, Msg: fmt.Sprintf(format, a...), File: "defaults.yaml"}
		if o, ok := c.origins[key]; ok {
			e.File, e.Line = o.file, o.line
		}
		errs = append(errs, e)
	}

	n := c.Network
	for key, v := range map[string]string{
		"network.management_interface": n.ManagementInterface,
		"network.external_interface":   n.ExternalInterface,
	} {
		if v != "" && (!ifaceRe.MatchString(v) || v == "." || v == "..") {
			bad(key, "%q is not a valid interface name (at most 15 letters, digits, '.', '_', '-', '@'); leave it empty to detect it", v)
		}
	}
	if n.ManagementInterface != "" && n.ManagementInterface == n.ExternalInterface {
		bad("network.external_interface", "%q is also the management interface; Neutron takes the external interface over, so it must be a second NIC", n.ExternalInterface)
	}
	if a := n.ManagementAddress; a != "" {
		addr, err := netip.ParseAddr(a)
		switch {
		case err != nil && strings.Contains(a, "/"):
			bad("network.management_address", "%q: give the address without a prefix length", a)
		case err != nil:
			bad("network.management_address", "%q is not an IP address", a)
		case addr.Zone() != "":
			bad("network.management_address", "%q: a zoned (link-local) address cannot be put in service URLs", a)
		case addr.IsUnspecified() || addr.IsLoopback() || addr.IsMulticast():
			bad("network.management_address", "%q cannot be reached by the services and guests; use the management NIC's address", a)
		}
	}
	if !nameRe.MatchString(n.ProviderNetwork) {
		bad("network.provider_network", "%q: use 1 to 64 letters, digits, '-' or '_'", n.ProviderNetwork)
	}
	if n.MTU != 0 && (n.MTU < 1280 || n.MTU > 9216) {
		bad("network.mtu", "%d is out of range: 0 (use the management NIC's MTU) or 1280 to 9216", n.MTU)
	}

	if !nameRe.MatchString(c.OpenStack.Region) {
		bad("openstack.region", "%q: use 1 to 64 letters, digits, '-' or '_'", c.OpenStack.Region)
	}
	switch c.OpenStack.NeutronBackend {
	// Which release may run which backend is the installer's release
	// knowledge (openstack.Release): checked against the host before
	// install changes anything.
	case BackendAuto, BackendLinuxbridge, BackendOpenvswitch:
	default:
		bad("openstack.neutron_backend", "%q is not one of: auto, linuxbridge, openvswitch", c.OpenStack.NeutronBackend)
	}

	switch c.Compute.Driver {
	case DriverLibvirt, DriverFake:
	default:
		bad("compute.driver", "%q is not one of: libvirt, fake", c.Compute.Driver)
	}
	switch c.Compute.VirtType {
	case VirtAuto, VirtKVM, VirtQEMU:
	default:
		bad("compute.virt_type", "%q is not one of: auto, kvm, qemu", c.Compute.VirtType)
	}

	if w := c.Services.Workers; w < 0 || w > 64 {
		bad("services.workers", "%d is out of range: 0 (derive from the host) or 1 to 64", w)
	}

	if r := c.Horizon.WebRoot; r != "/" && !webRootRe.MatchString(r) {
		bad("horizon.web_root", "%q: use an absolute URL path such as /horizon, without a trailing slash", r)
	}
	if z := c.Horizon.TimeZone; !timeZoneRe.MatchString(z) || len(z) > 64 {
		bad("horizon.time_zone", "%q is not a tz database name such as UTC or Europe/Paris", z)
	}

	for key, val := range map[string]string{"admin.user": c.Admin.User, "admin.project": c.Admin.Project} {
		if !identRe.MatchString(val) {
			bad(key, "%q: use 1 to 64 letters, digits, '.', '_', '-' or '@'", val)
		}
	}

	for key, p := range map[string]string{"paths.state_dir": c.Paths.StateDir, "paths.log_dir": c.Paths.LogDir} {
		switch {
		case !path.IsAbs(p):
			bad(key, "%q must be an absolute path", p)
		case path.Clean(p) != p:
			bad(key, "%q is not clean; write %q", p, path.Clean(p))
		case p == "/" || strings.ContainsAny(p, "\n\x00"):
			bad(key, "%q cannot be used as stacklab's own directory", p)
		}
	}
	if c.Paths.StateDir == c.Paths.LogDir {
		bad("paths.log_dir", "must differ from paths.state_dir")
	}
	sortErrors(errs)
	return errs
}

func sortErrors(errs []*Error) {
	slices.SortStableFunc(errs, func(a, b *Error) int {
		return cmp.Or(cmp.Compare(a.File, b.File), cmp.Compare(a.Line, b.Line), cmp.Compare(a.Key, b.Key))
	})
}

// joinErrors keeps each *Error reachable with errors.As.
func joinErrors(errs []*Error) error {
	if len(errs) == 0 {
		return nil
	}
	out := make([]error, len(errs))
	for i, e := range errs {
		out[i] = e
	}
	return errors.Join(out...)
}
