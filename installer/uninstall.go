package installer

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"github.com/stacklab/stacklab/installer/apt"
	"github.com/stacklab/stacklab/installer/openstack"
	"github.com/stacklab/stacklab/internal/systemd"
)

// stacklabPaths are the files and directories stacklab itself creates
// outside the packages: configuration and secrets, state, logs and the
// admin credentials.
var stacklabPaths = []string{
	"/etc/stacklab",
	"/var/lib/stacklab",
	"/var/log/stacklab",
	"/etc/openstack/clouds.yaml",
	"/root/admin-openrc",
}

// Uninstall returns the host to its state before install: it stops the
// lab's units (dependents first), removes the files stacklab wrote of its
// own, then purges the lab's packages with their configuration and data
// (MariaDB's databases included) and what only they pulled in. It does not
// touch the NIC configuration (`stacklab net` owns that) and deletes nothing
// it cannot attribute to the lab. With dryRun it only lists the steps.
func Uninstall(ctx context.Context, h Host, p openstack.Params, logDir string, dryRun bool) (Outcome, error) {
	var o Outcome
	if err := removeGuests(ctx, h, &o, dryRun); err != nil {
		return o, err
	}
	units := openstack.Units(p)
	slices.Reverse(units)
	states, err := h.Units.States(ctx, units...)
	if err != nil {
		return o, fmt.Errorf("uninstall: read units: %w", err)
	}
	switchUnits := openstack.Backend(p).SwitchUnits()
	bridgesDone := false
	for i, s := range states {
		// The switch's units come after the agents that program it:
		// its bridges go once nothing re-creates them and while the
		// switch can still delete them.
		if !bridgesDone && slices.Contains(switchUnits, units[i]) {
			bridgesDone = true
			if err := removeBridges(ctx, h, p, &o, dryRun); err != nil {
				return o, err
			}
		}
		if !s.Found() || s.ActiveState == "inactive" {
			continue
		}
		o.Changes = append(o.Changes, "stop "+units[i])
		if dryRun {
			continue
		}
		if err := h.Units.Stop(ctx, units[i]); err != nil && !errors.Is(err, systemd.ErrNoSuchUnit) {
			return o, fmt.Errorf("uninstall: %w", err)
		}
	}

	var own []string
	for _, f := range openstack.Files(p) {
		if f.Kind == openstack.Text {
			own = append(own, f.Path)
		}
	}
	// Our files in the packages' directories go first: dpkg removes a
	// package's directory only when it is empty.
	if err := removeAll(h, own, &o, dryRun); err != nil {
		return o, err
	}
	if err := removeDropInDirs(h, p, dryRun); err != nil {
		return o, err
	}
	if err := purge(ctx, h, p, logDir, &o, dryRun); err != nil {
		return o, err
	}
	// The switch's database, which the purge does not remove everywhere.
	if err := removeAll(h, openstack.SwitchLeftovers(p), &o, dryRun); err != nil {
		return o, err
	}
	// stacklab's own state and logs go last, so that a failed purge leaves
	// its log behind for the user.
	return o, removeAll(h, stacklabPaths, &o, dryRun)
}

// virsh talks to the system's libvirt, where nova defines the lab's guests.
var virsh = []string{"virsh", "--connect", "qemu:///system"}

// removeGuests destroys and undefines nova's guests (libvirt domains named
// instance-*) while libvirt runs: a guest's qemu lives in machine.slice,
// not in any lab unit, so stopping the units and purging the packages left
// it running with its tap device (measured on Debian 13). Without libvirt
// (nothing installed, or already uninstalled) there is nothing to ask.
func removeGuests(ctx context.Context, h Host, o *Outcome, dryRun bool) error {
	out, err := h.Exec.Run(ctx, Cmd{Argv: append(slices.Clone(virsh), "list", "--all", "--name"), ReadOnly: true})
	if err != nil {
		return nil //nolint:nilerr // no libvirt to ask: no guest of the lab can run
	}
	for _, name := range strings.Fields(string(out)) {
		if !strings.HasPrefix(name, "instance-") {
			continue
		}
		o.Changes = append(o.Changes, "destroy and undefine the lab's guest "+name)
		if dryRun {
			continue
		}
		// destroy fails on a guest that is not running: undefine is what
		// must work.
		_, _ = h.Exec.Run(ctx, Cmd{Argv: append(slices.Clone(virsh), "destroy", name)})
		if _, err := h.Exec.Run(ctx, Cmd{Argv: append(slices.Clone(virsh), "undefine", name)}); err != nil {
			return fmt.Errorf("uninstall: guest %s: %w", name, err)
		}
	}
	return nil
}

// removeBridges deletes the lab's OVS bridges when the switch's database
// runs. When it does not there is nothing to ask: the purge removes the
// database, and bridges on the userspace datapath die with ovs-vswitchd.
func removeBridges(ctx context.Context, h Host, p openstack.Params, o *Outcome, dryRun bool) error {
	names := openstack.LabBridges(p)
	if len(names) == 0 || h.Switch == nil {
		return nil
	}
	st, err := h.Units.States(ctx, openstack.UnitOVSDB)
	if err != nil {
		return fmt.Errorf("uninstall: read %s: %w", openstack.UnitOVSDB, err)
	}
	if len(st) == 0 || st[0].ActiveState != "active" {
		return nil
	}
	ch, err := h.Switch.RemoveBridges(ctx, names, dryRun)
	o.Changes = append(o.Changes, ch...)
	if err != nil {
		return fmt.Errorf("uninstall: OVS bridges: %w", err)
	}
	return nil
}

// removeDropInDirs removes the directories of our systemd drop-ins once
// they are empty; one that holds someone else's drop-in stays.
func removeDropInDirs(h Host, p openstack.Params, dryRun bool) error {
	if dryRun {
		return nil
	}
	for _, f := range openstack.Files(p) {
		if !f.SystemdUnit {
			continue
		}
		dir := filepath.Dir(f.Path)
		if err := h.Files.Remove(dir); err != nil && !errors.Is(err, syscall.ENOTEMPTY) && !errors.Is(err, syscall.EEXIST) {
			return fmt.Errorf("uninstall: remove %s: %w", dir, err)
		}
	}
	return nil
}

func removeAll(h Host, paths []string, o *Outcome, dryRun bool) error {
	for _, path := range paths {
		ok, err := h.Files.Exists(path)
		if err != nil {
			return fmt.Errorf("uninstall: %w", err)
		}
		if !ok {
			continue
		}
		o.Changes = append(o.Changes, "remove "+path)
		if dryRun {
			continue
		}
		if err := h.Files.RemoveAll(path); err != nil {
			return fmt.Errorf("uninstall: remove %s: %w", path, err)
		}
	}
	return nil
}

func purge(ctx context.Context, h Host, p openstack.Params, logDir string, o *Outcome, dryRun bool) error {
	// With the stand-ins an earlier stacklab installed instead.
	pkgs := withStandIns(openstack.Packages(p), openstack.StandIns(p))
	missing, err := h.Packages.Missing(ctx, pkgs)
	if err != nil {
		return fmt.Errorf("uninstall: %w", err)
	}
	installed := slices.DeleteFunc(slices.Clone(pkgs), func(s string) bool { return slices.Contains(missing, s) })
	if len(installed) == 0 {
		return nil
	}
	o.Changes = append(o.Changes, fmt.Sprintf("purge %d packages and what only they pulled in: %v", len(installed), installed))
	if dryRun {
		return nil
	}
	// Without this answer MariaDB's postrm keeps /var/lib/mysql, and the
	// lab's databases (with their passwords) would outlive the lab.
	if _, err := h.Packages.Preseed(ctx, []apt.Selection{{
		Owner: "mariadb-server", Question: "mariadb-server/postrm_remove_databases", Type: "boolean", Value: "true",
	}}); err != nil {
		return fmt.Errorf("uninstall: %w", err)
	}
	if err := h.Packages.Purge(ctx, installed, apt.InstallOptions{LogPath: filepath.Join(logDir, "apt-purge.log")}); err != nil {
		return fmt.Errorf("uninstall: %w", err)
	}
	return nil
}
