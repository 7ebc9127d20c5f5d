package netcfg

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"slices"

	"github.com/vishvananda/netlink"
)

// ExternalNetworkPath records the network the external NIC was on before
// its address went, so the lab's ext_net can be put on that real network.
const ExternalNetworkPath = "/var/lib/stacklab/external-network.json"

// ExternalNetwork is that record.
type ExternalNetwork struct {
	Interface string `json:"interface"`
	// Address is the NIC's own address with the network's prefix length.
	Address netip.Prefix `json:"address"`
	// Gateway is a router on that network (from a route through the NIC),
	// absent on a host-only network.
	Gateway netip.Addr `json:"gateway,omitzero"`
	// Neighbours are the addresses seen on the link (the laptop, a DHCP
	// server): a floating-IP pool must not hand them out.
	Neighbours []netip.Addr `json:"neighbours,omitempty"`
}

// recordNetwork describes ext's IPv4 network; false when ext has no IPv4
// address left to record (the record of an earlier run then stays).
func recordNetwork(s Snapshot, ext Link, neighbours []netip.Addr) (ExternalNetwork, bool) {
	addr, ok := ext.PrimaryIPv4()
	if !ok {
		return ExternalNetwork{}, false
	}
	rec := ExternalNetwork{Interface: ext.Name, Address: addr}
	for _, r := range s.RoutesVia(ext.Name) {
		if r.Family == IPv4 && r.Gateway.IsValid() && addr.Contains(r.Gateway) {
			rec.Gateway = r.Gateway
			break
		}
	}
	for _, n := range neighbours {
		if n.Is4() && addr.Contains(n) && !slices.Contains(rec.Neighbours, n) {
			rec.Neighbours = append(rec.Neighbours, n)
		}
	}
	slices.SortFunc(rec.Neighbours, netip.Addr.Compare)
	return rec, true
}

// writeRecord writes rec while its address is still on the NIC: once it
// is gone, the record of the run that removed it is the truth.
func (h Host) writeRecord(rec *ExternalNetwork, ext Link) error {
	if rec == nil {
		return nil
	}
	if !slices.ContainsFunc(ext.Addrs, func(a Addr) bool { return a.Prefix == rec.Address }) {
		return nil
	}
	b, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		return fmt.Errorf("netcfg: record %s's network: %w", ext.Name, err)
	}
	_, err = h.writeFile(Change{Action: ActionWriteFile, Path: ExternalNetworkPath, Mode: 0o644, Content: string(b) + "\n"})
	return err
}

// neighLister is the part of a netlink handle that reads the neighbour
// table; optional, so a fake without it records no neighbours.
type neighLister interface {
	NeighList(linkIndex, family int) ([]netlink.Neigh, error)
}

// neighbours lists the IPv4 neighbours the kernel has seen on link index.
func (h Host) neighbours(index int) ([]netip.Addr, error) {
	nl, ok := h.NL.(neighLister)
	if !ok {
		return nil, nil
	}
	ns, err := nl.NeighList(index, netlink.FAMILY_V4)
	if err != nil {
		return nil, fmt.Errorf("netcfg: list neighbours: %w", err)
	}
	var out []netip.Addr
	for _, n := range ns {
		if a, ok := netip.AddrFromSlice(n.IP); ok && n.State&(netlink.NUD_FAILED|netlink.NUD_INCOMPLETE) == 0 {
			out = append(out, a.Unmap())
		}
	}
	return out, nil
}

// ReadExternalNetwork reads the record at file (ExternalNetworkPath on a
// real host); ok is false when there is none (the NIC never had an
// address we removed).
func ReadExternalNetwork(file string) (rec ExternalNetwork, ok bool, err error) {
	b, err := os.ReadFile(file)
	if errors.Is(err, fs.ErrNotExist) {
		return rec, false, nil
	}
	if err != nil {
		return rec, false, fmt.Errorf("netcfg: read %s: %w", file, err)
	}
	if err := json.Unmarshal(b, &rec); err != nil {
		return rec, false, fmt.Errorf("netcfg: %s: %w", file, err)
	}
	return rec, rec.Address.IsValid(), nil
}
