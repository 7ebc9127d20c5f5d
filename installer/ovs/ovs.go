// Package ovs converges the lab's Open vSwitch bridges: read what the OVS
// database holds, compare only what the lab manages (the bridge, its
// datapath type, the ports the lab puts on it), act on the difference and
// read again to verify.
//
// The database is reached through ovs-vsctl (VsctlDB), behind the small DB
// interface. No maintained Go OVSDB library is reachable from this
// project's module proxy (libovsdb is not served), and an RFC 7047 client
// of our own would be more code to keep right than the lab needs;
// ovs-vsctl ships with the daemons in the same packages, speaks OVSDB
// transactionally itself and waits until ovs-vswitchd has applied a
// change, which is the verification we want.
package ovs

import (
	"context"
	"fmt"
	"slices"

	"github.com/stacklab/stacklab/installer/openstack"
)

// BridgeState is one bridge as the database has it.
type BridgeState struct {
	Name     string
	Datapath string // "" is OVS's default, the kernel datapath
	// Ports are its ports other than its own internal one.
	Ports []string
}

// DB is what convergence needs of the OVS database.
type DB interface {
	Bridges(ctx context.Context) ([]BridgeState, error)
	AddBridge(ctx context.Context, name, datapath string) error
	SetDatapath(ctx context.Context, bridge, datapath string) error
	AddPort(ctx context.Context, bridge, port string) error
	DelPort(ctx context.Context, bridge, port string) error
	DelBridge(ctx context.Context, name string) error
}

// Converge makes the bridges in want exist with their datapath and ports,
// and returns what it changed (or, with dryRun, would change). Ports it
// does not manage (the agent's patch ports, routers' and instances' ports)
// are left alone; a wanted port found on another bridge is moved.
func Converge(ctx context.Context, db DB, want []openstack.Bridge, dryRun bool) ([]string, error) {
	have, err := db.Bridges(ctx)
	if err != nil {
		return nil, fmt.Errorf("read OVS bridges: %w", err)
	}
	var changes []string
	act := func(what string, f func() error) error {
		changes = append(changes, what)
		if dryRun {
			return nil
		}
		if err := f(); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		return nil
	}
	for _, w := range want {
		cur, ok := find(have, w.Name)
		switch {
		case !ok:
			if err := act(fmt.Sprintf("add bridge %s (datapath %s)", w.Name, w.Datapath), func() error {
				return db.AddBridge(ctx, w.Name, w.Datapath)
			}); err != nil {
				return changes, err
			}
		case datapath(cur.Datapath) != datapath(w.Datapath):
			if err := act(fmt.Sprintf("set bridge %s datapath %s (was %s)", w.Name, w.Datapath, datapath(cur.Datapath)), func() error {
				return db.SetDatapath(ctx, w.Name, w.Datapath)
			}); err != nil {
				return changes, err
			}
		}
		for _, port := range w.Ports {
			if slices.Contains(cur.Ports, port) {
				continue
			}
			for _, other := range have {
				if other.Name != w.Name && slices.Contains(other.Ports, port) {
					if err := act(fmt.Sprintf("remove port %s from bridge %s", port, other.Name), func() error {
						return db.DelPort(ctx, other.Name, port)
					}); err != nil {
						return changes, err
					}
				}
			}
			if err := act(fmt.Sprintf("add port %s to bridge %s", port, w.Name), func() error {
				return db.AddPort(ctx, w.Name, port)
			}); err != nil {
				return changes, err
			}
		}
	}
	if dryRun || len(changes) == 0 {
		return changes, nil
	}
	return changes, verify(ctx, db, want)
}

// verify reads the database again: the state reached, not the one asked.
func verify(ctx context.Context, db DB, want []openstack.Bridge) error {
	have, err := db.Bridges(ctx)
	if err != nil {
		return fmt.Errorf("re-read OVS bridges: %w", err)
	}
	for _, w := range want {
		cur, ok := find(have, w.Name)
		if !ok {
			return fmt.Errorf("bridge %s is still missing after adding it", w.Name)
		}
		if datapath(cur.Datapath) != datapath(w.Datapath) {
			return fmt.Errorf("bridge %s has datapath %s after setting %s", w.Name, datapath(cur.Datapath), w.Datapath)
		}
		for _, p := range w.Ports {
			if !slices.Contains(cur.Ports, p) {
				return fmt.Errorf("bridge %s lacks port %s after adding it", w.Name, p)
			}
		}
	}
	return nil
}

// Remove deletes the named bridges with every port on them; a bridge
// already gone is success.
func Remove(ctx context.Context, db DB, names []string, dryRun bool) ([]string, error) {
	have, err := db.Bridges(ctx)
	if err != nil {
		return nil, fmt.Errorf("read OVS bridges: %w", err)
	}
	var changes []string
	for _, n := range names {
		if _, ok := find(have, n); !ok {
			continue
		}
		changes = append(changes, "delete bridge "+n)
		if dryRun {
			continue
		}
		if err := db.DelBridge(ctx, n); err != nil {
			return changes, fmt.Errorf("delete bridge %s: %w", n, err)
		}
	}
	return changes, nil
}

func find(have []BridgeState, name string) (BridgeState, bool) {
	i := slices.IndexFunc(have, func(b BridgeState) bool { return b.Name == name })
	if i < 0 {
		return BridgeState{}, false
	}
	return have[i], true
}

// datapath names OVS's default ("" in the database) as what it means.
func datapath(dp string) string {
	if dp == "" {
		return openstack.DatapathSystem
	}
	return dp
}

// BridgePorts is the database's bridges with their ports (doctor's view).
func BridgePorts(ctx context.Context, db DB) (map[string][]string, error) {
	have, err := db.Bridges(ctx)
	if err != nil {
		return nil, err
	}
	out := make(map[string][]string, len(have))
	for _, b := range have {
		out[b.Name] = b.Ports
	}
	return out, nil
}
