package systemd

import (
	"fmt"
	"strings"
	"time"
)

// UnitState is a unit's state as `systemctl status` would summarise it.
type UnitState struct {
	Name        string // normalised unit name, e.g. "nova-api.service"
	LoadState   string // loaded, not-found, masked, error, ...
	ActiveState string // active, inactive, failed, activating, deactivating, reloading
	SubState    string // type-specific, e.g. running, exited, dead, auto-restart
	// Since is when the unit entered its current active state; zero when
	// systemd has no record, e.g. for a stopped unit it has unloaded
	// (failed units stay loaded).
	Since time.Time
	// MainPID is the service's main process; 0 if none or not a service.
	MainPID uint32
	// Result is the outcome of the unit's last run: success, exit-code,
	// signal, core-dump, timeout, start-limit-hit, ...; empty for unit
	// types that have none (targets, devices, slices).
	Result string
	// UnitFileState is the unit file's enablement: enabled, disabled,
	// static, masked, indirect, generated, ... ("" when systemd has no
	// unit file for it). It says whether the unit starts at boot, which a
	// running unit's ActiveState does not.
	UnitFileState string
}

// StartsAtBoot reports whether the unit is pulled in at boot or by another
// unit without anyone starting it by hand. "static" and "generated" units
// are started by their dependants or generators; "disabled", "indirect"
// and masked units are not started at boot.
func (s UnitState) StartsAtBoot() bool {
	switch s.UnitFileState {
	case "enabled", "enabled-runtime", "static", "generated", "alias", "linked", "linked-runtime", "transient":
		return true
	}
	return false
}

// Active reports whether the unit is up (active or reloading).
func (s UnitState) Active() bool {
	return s.ActiveState == "active" || s.ActiveState == "reloading"
}

// Started is when the unit's running process became active: zero when
// the unit is not up, whose Since then dates its stop or its start
// attempt.
func (s UnitState) Started() time.Time {
	if !s.Active() {
		return time.Time{}
	}
	return s.Since
}

// Failed reports whether systemd considers the unit failed.
func (s UnitState) Failed() bool { return s.ActiveState == "failed" }

// Found reports whether a unit file exists for the unit (masked counts:
// the unit is known, just not startable).
func (s UnitState) Found() bool { return s.LoadState != "not-found" && s.LoadState != "" }

func (s UnitState) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s/%s/%s", s.Name, s.LoadState, s.ActiveState, s.SubState)
	if s.Result != "" && s.Result != "success" {
		fmt.Fprintf(&b, " result=%s", s.Result)
	}
	if s.MainPID != 0 {
		fmt.Fprintf(&b, " pid=%d", s.MainPID)
	}
	if s.UnitFileState != "" {
		fmt.Fprintf(&b, " %s", s.UnitFileState)
	}
	if !s.Since.IsZero() {
		fmt.Fprintf(&b, " since %s", s.Since.Format(time.RFC3339))
	}
	return b.String()
}

// unitType maps a unit suffix to the D-Bus interface carrying the type's
// MainPID/Result ("" for types without one); ok is false for a suffix that
// is not a unit type. A switch, not a map, to keep package state immutable.
func unitType(suffix string) (iface string, ok bool) {
	switch suffix {
	case "service":
		return "Service", true
	case "socket":
		return "Socket", true
	case "mount":
		return "Mount", true
	case "automount":
		return "Automount", true
	case "swap":
		return "Swap", true
	case "timer":
		return "Timer", true
	case "path":
		return "Path", true
	case "scope":
		return "Scope", true
	case "target", "device", "slice":
		return "", true
	}
	return "", false
}

// normalize appends ".service" to a name without a unit suffix, as
// systemctl does, so "keystone" works.
func normalize(unit string) (string, error) {
	// A leading "-" is legal ("-.slice", "-.mount"); journalctl gets
	// names as --unit=NAME, so it cannot be taken for an option.
	if unit == "" || strings.ContainsAny(unit, "/\x00\n") {
		return "", fmt.Errorf("systemd: invalid unit name %q", unit)
	}
	if i := strings.LastIndexByte(unit, '.'); i > 0 {
		if _, ok := unitType(unit[i+1:]); ok {
			return unit, nil
		}
	}
	return unit + ".service", nil
}

func normalizeAll(units []string) ([]string, error) {
	out := make([]string, 0, len(units))
	for _, u := range units {
		n, err := normalize(u)
		if err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, nil
}

// typeInterface names the D-Bus interface holding MainPID/Result for the
// unit's type, or "" when the type has no Result.
func typeInterface(unit string) string {
	i := strings.LastIndexByte(unit, '.')
	if i < 0 {
		return ""
	}
	iface, _ := unitType(unit[i+1:])
	return iface
}

// sinceKey names the timestamp property since reads for an active state.
func sinceKey(activeState string) string {
	switch activeState {
	case "active", "reloading":
		return "ActiveEnterTimestamp"
	case "activating":
		return "InactiveExitTimestamp"
	case "deactivating":
		return "ActiveExitTimestamp"
	}
	return "InactiveEnterTimestamp" // inactive, failed
}

// since picks the timestamp systemctl shows after "since" for a given
// active state; systemd's timestamps are microseconds since the epoch.
func since(activeState string, props map[string]any) time.Time {
	us, _ := props[sinceKey(activeState)].(uint64)
	if us == 0 {
		return time.Time{}
	}
	return time.UnixMicro(int64(us))
}

// stateFromProps maps systemd's D-Bus properties onto a UnitState; typed
// holds the properties of the unit's type interface (may be nil).
func stateFromProps(name string, unit, typed map[string]any) UnitState {
	str := func(m map[string]any, k string) string {
		s, _ := m[k].(string)
		return s
	}
	s := UnitState{
		Name:        name,
		LoadState:   str(unit, "LoadState"),
		ActiveState: str(unit, "ActiveState"),
		SubState:    str(unit, "SubState"),
		Result:      str(typed, "Result"),

		UnitFileState: str(unit, "UnitFileState"),
	}
	if id := str(unit, "Id"); id != "" {
		s.Name = id
	}
	s.MainPID, _ = typed["MainPID"].(uint32)
	s.Since = since(s.ActiveState, unit)
	return s
}
