// Package nics holds the preflight checks of the NIC layout: a management
// NIC carrying the default route, and a second, external NIC that is up and
// has no address, for neutron's provider network.
package nics

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync"

	"github.com/stacklab/stacklab/checks"
	"github.com/stacklab/stacklab/netcfg"
)

// Source yields the NIC state; netcfg.Host is one.
type Source interface {
	Links(ctx context.Context) (netcfg.Snapshot, error)
}

// Options carry the user's --mgmt-if/--ext-if overrides.
type Options struct {
	MgmtIf string
	ExtIf  string
}

// Check IDs, stable: they are accepted by --skip.
const (
	IDMgmt        = "mgmt-nic"
	IDExt         = "ext-nic"
	IDExtUp       = "ext-nic-up"
	IDExtNoAddr   = "ext-nic-unaddressed"
	secondNICHelp = "add a second network adapter to the VM, then boot it again:\n" +
		"  VirtualBox: Settings > Network > Adapter 2 > Enable Network Adapter, attached to \"Host-only Adapter\" or \"NAT Network\"\n" +
		"  VMware: VM Settings > Add > Network Adapter\n" +
		"  KVM/virt-manager: Add Hardware > Network\n" +
		"or name it yourself: --ext-if NAME"
)

// reading is one snapshot shared by all checks of a run, so they judge the
// same moment and the kernel is read once.
type reading struct {
	once sync.Once
	snap netcfg.Snapshot
	err  error
}

func (r *reading) get(ctx context.Context, src Source) (netcfg.Snapshot, error) {
	r.once.Do(func() { r.snap, r.err = src.Links(ctx) })
	return r.snap, r.err
}

// Checks returns the NIC layout checks.
func Checks(src Source, opts Options) []checks.Check {
	r := &reading{}
	with := func(f func(netcfg.Snapshot, Options) checks.Result) func(context.Context) checks.Result {
		return func(ctx context.Context) checks.Result {
			s, err := r.get(ctx, src)
			if err != nil {
				return checks.Failf("could not read the network interfaces", "check that netlink works here: ip -d link show", err.Error())
			}
			return f(s, opts)
		}
	}
	return []checks.Check{
		{ID: IDMgmt, Title: "Management NIC", Run: with(CheckMgmt)},
		{ID: IDExt, Title: "External NIC", DependsOn: []string{IDMgmt}, Run: with(CheckExt)},
		{ID: IDExtUp, Title: "External NIC is up", DependsOn: []string{IDExt}, Run: with(CheckExtUp)},
		{ID: IDExtNoAddr, Title: "External NIC has no address", DependsOn: []string{IDExt}, Run: with(CheckExtUnaddressed)},
	}
}

// MgmtIPv4 is the management NIC's primary IPv4 address, the one the
// services bind to and the hostname must resolve to.
func MgmtIPv4(ctx context.Context, src Source, opts Options) (netip.Addr, error) {
	s, err := src.Links(ctx)
	if err != nil {
		return netip.Addr{}, err
	}
	return MgmtIPv4From(s, opts)
}

// MgmtIPv4From is MgmtIPv4 on a snapshot already read.
func MgmtIPv4From(s netcfg.Snapshot, opts Options) (netip.Addr, error) {
	name, _, err := mgmtName(s, opts)
	if err != nil {
		return netip.Addr{}, err
	}
	l, _ := s.Link(name)
	p, ok := l.PrimaryIPv4()
	if !ok {
		return netip.Addr{}, fmt.Errorf("nics: management NIC %s has no global IPv4 address", name)
	}
	return p.Addr(), nil
}

func mgmtName(s netcfg.Snapshot, opts Options) (string, string, error) {
	if opts.MgmtIf != "" {
		if _, ok := s.Link(opts.MgmtIf); !ok {
			return "", "", &netcfg.DetectError{Err: netcfg.ErrNoSuchInterface, Role: "management", Name: opts.MgmtIf, Seen: s.Names()}
		}
		return opts.MgmtIf, "override", nil
	}
	r, ok := s.DefaultIPv4()
	if !ok {
		return "", "", &netcfg.DetectError{Err: netcfg.ErrNoDefaultRoute, Role: "management", Seen: s.Names()}
	}
	return r.Link, "default-route", nil
}

func allLinks(s netcfg.Snapshot) []string {
	out := make([]string, 0, len(s.Links))
	for _, l := range s.Links {
		out = append(out, l.Evidence())
	}
	return out
}

func routes(s netcfg.Snapshot) []string {
	if len(s.DefaultRoutes) == 0 {
		return []string{"no default route"}
	}
	out := make([]string, 0, len(s.DefaultRoutes))
	for _, r := range s.DefaultRoutes {
		out = append(out, r.String())
	}
	return out
}

// CheckMgmt: the management NIC exists, carries the IPv4 default route and
// has an IPv4 address.
func CheckMgmt(s netcfg.Snapshot, opts Options) checks.Result {
	name, from, err := mgmtName(s, opts)
	if err != nil {
		ev := append(routes(s), allLinks(s)...)
		if errors.Is(err, netcfg.ErrNoSuchInterface) {
			return checks.Failf(fmt.Sprintf("--mgmt-if %s: no such interface", opts.MgmtIf),
				"pass the name of an existing interface (see evidence) to --mgmt-if", ev...)
		}
		return checks.Failf("no IPv4 default route: cannot tell the management NIC",
			"give the management NIC a default route (DHCP on the NAT/bridged adapter), or pass --mgmt-if NAME", ev...)
	}
	l, _ := s.Link(name)
	ev := append([]string{l.Evidence()}, routes(s)...)
	p, ok := l.PrimaryIPv4()
	if !ok {
		return checks.Failf(fmt.Sprintf("management NIC %s has no IPv4 address", name),
			fmt.Sprintf("configure an IPv4 address on %s (DHCP or static) in the host's network configuration", name), ev...)
	}
	if !l.Up {
		return checks.Failf(fmt.Sprintf("management NIC %s is down", name), "ip link set dev "+name+" up", ev...)
	}
	if def, ok := s.DefaultIPv4(); ok && def.Link != name {
		return checks.Warnf(fmt.Sprintf("management NIC %s (from --mgmt-if) does not carry the default route; %s does", name, def.Link),
			fmt.Sprintf("check --mgmt-if: services will bind to %s, but traffic to other networks leaves by %s", p.Addr(), def.Link), ev...)
	}
	if from == "override" && len(s.DefaultRoutesVia(name)) == 0 {
		return checks.Warnf(fmt.Sprintf("management NIC %s has no default route", name),
			"give the host a default route through "+name+" so apt and the services can reach out", ev...)
	}
	return checks.Pass(fmt.Sprintf("%s (%s), IPv4 %s, carries the default route", name, from, p), ev...)
}

// CheckExt: a second NIC exists and is not the management NIC.
func CheckExt(s netcfg.Snapshot, opts Options) checks.Result {
	lay, err := netcfg.Detect(s, opts.MgmtIf, opts.ExtIf)
	var de *netcfg.DetectError
	if err != nil && errors.As(err, &de) {
		ev := de.Seen
		if len(ev) == 0 {
			ev = allLinks(s)
		}
		switch {
		case errors.Is(err, netcfg.ErrNoExternalNIC):
			return checks.Failf("no second NIC for the external (provider) network", secondNICHelp, ev...)
		case errors.Is(err, netcfg.ErrAmbiguousExternal):
			return checks.Failf(fmt.Sprintf("more than one NIC could be the external NIC: %s", strings.Join(de.Candidates, ", ")),
				fmt.Sprintf("name the external NIC with --ext-if, e.g. --ext-if %s", de.Candidates[len(de.Candidates)-1]), ev...)
		case errors.Is(err, netcfg.ErrExternalIsMgmt):
			return checks.Failf(fmt.Sprintf("--ext-if %s is the management NIC", de.Name),
				"pass the second NIC to --ext-if, not the one carrying the default route", allLinks(s)...)
		case errors.Is(err, netcfg.ErrNoSuchInterface):
			return checks.Failf(fmt.Sprintf("--%s-if %s: no such interface", map[string]string{"management": "mgmt", "external": "ext"}[de.Role], de.Name),
				"pass the name of an existing interface (see evidence)", allLinks(s)...)
		}
	}
	if err != nil {
		return checks.Failf("could not decide the external NIC", "", err.Error())
	}
	l, _ := s.Link(lay.Ext)
	ev := []string{l.Evidence(), fmt.Sprintf("chosen: %s", lay.ExtFrom)}
	if rs := s.DefaultRoutesVia(lay.Ext); len(rs) > 0 {
		for _, r := range rs {
			ev = append(ev, r.String())
		}
		return checks.Failf(fmt.Sprintf("external NIC %s carries a default route", lay.Ext),
			fmt.Sprintf("the external NIC must not be the way out of the host: remove the default route from %s in the host's network configuration, or pass the right NICs with --mgmt-if/--ext-if", lay.Ext), ev...)
	}
	if l.Master != "" && !strings.HasPrefix(l.Master, "brq") {
		return checks.Warnf(fmt.Sprintf("external NIC %s is enslaved to %s %s", lay.Ext, l.MasterKind, l.Master),
			fmt.Sprintf("ip link set dev %s nomaster", lay.Ext), ev...)
	}
	return checks.Pass(fmt.Sprintf("%s (%s), management NIC is %s", lay.Ext, lay.ExtFrom, lay.Mgmt), ev...)
}

func extLink(s netcfg.Snapshot, opts Options) (netcfg.Link, checks.Result, bool) {
	lay, err := netcfg.Detect(s, opts.MgmtIf, opts.ExtIf)
	if err != nil {
		return netcfg.Link{}, checks.Skipped("external NIC not decided: " + err.Error()), false
	}
	l, _ := s.Link(lay.Ext)
	return l, checks.Result{}, true
}

// CheckExtUp: the external NIC is administratively up; without carrier
// (a cable "unplugged" in the hypervisor) it only warns.
func CheckExtUp(s netcfg.Snapshot, opts Options) checks.Result {
	l, res, ok := extLink(s, opts)
	if !ok {
		return res
	}
	if !l.Up {
		return checks.Failf(fmt.Sprintf("external NIC %s is down", l.Name),
			fmt.Sprintf("stacklab net apply   (or once, by hand: ip link set dev %s up)", l.Name), l.Evidence())
	}
	if l.OperState == "down" || l.OperState == "lowerlayerdown" {
		return checks.Warnf(fmt.Sprintf("external NIC %s is up but has no carrier", l.Name),
			"connect the VM's second adapter in the hypervisor (VirtualBox: Settings > Network > Adapter 2 > Advanced > Cable Connected)", l.Evidence())
	}
	return checks.Pass(fmt.Sprintf("%s is up (oper %s)", l.Name, l.OperState), l.Evidence())
}

// CheckExtUnaddressed: no IPv4 and no global IPv6 on the external NIC;
// neutron bridges it and an address there would be shadowed by the bridge.
func CheckExtUnaddressed(s netcfg.Snapshot, opts Options) checks.Result {
	l, res, ok := extLink(s, opts)
	if !ok {
		return res
	}
	blocking := l.BlockingAddrs()
	if len(blocking) == 0 {
		return checks.Pass(fmt.Sprintf("%s has no IPv4 or global IPv6 address", l.Name), l.Evidence())
	}
	ev := []string{l.Evidence()}
	for _, a := range blocking {
		ev = append(ev, l.Name+": "+a.String())
	}
	return checks.Failf(fmt.Sprintf("external NIC %s has %d address(es); neutron needs it unaddressed", l.Name, len(blocking)),
		netcfg.FlushFix(l.Name), ev...)
}
