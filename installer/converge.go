package installer

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"
	"time"

	"github.com/stacklab/stacklab/installer/inifile"
	"github.com/stacklab/stacklab/installer/openstack"
	"github.com/stacklab/stacklab/internal/cloud"
	"github.com/stacklab/stacklab/internal/fix"
	"github.com/stacklab/stacklab/internal/systemd"
)

// fileWrite is the planned change of one file.
type fileWrite struct {
	path   string
	data   []byte
	perm   Perm
	remove bool
}

// applyFiles converges the files at idx. Units of changed files are added
// to restart (when not nil) and recorded as pending restarts in the state
// dir before any file is written, so a run interrupted between writing a
// config and restarting its unit restarts it on the next run.
func (l *lab) applyFiles(ctx context.Context, idx []int, dryRun bool, o *outcome, restart map[string]bool) error {
	var writes []fileWrite
	var units []string
	reload := false
	for _, i := range idx {
		f := l.files[i]
		w, desc, changed, err := l.planFile(f, dryRun)
		if err != nil {
			return err
		}
		if !changed {
			continue
		}
		o.add("%s", desc)
		reload = reload || f.SystemdUnit
		for _, u := range f.Units {
			if restart != nil {
				restart[u] = true
			}
			if !slices.Contains(units, u) {
				units = append(units, u)
			}
		}
		if w != nil {
			writes = append(writes, *w)
		}
	}
	if dryRun || len(writes) == 0 {
		return nil
	}
	if err := l.addPending(units); err != nil {
		return err
	}
	for _, w := range writes {
		if err := ctx.Err(); err != nil {
			return err
		}
		var err error
		if w.remove {
			err = l.h.Files.Remove(w.path)
		} else {
			err = l.h.Files.WriteFile(w.path, w.data, w.perm)
		}
		if err != nil {
			return fix.Wrapf(err, "check that %s is writable and the disk is not full", w.path)
		}
	}
	if reload {
		if err := l.h.Units.DaemonReload(ctx); err != nil {
			return fix.Wrapf(err, "check systemd: systemctl daemon-reload")
		}
	}
	return nil
}

// missingFileError: a package-shipped file we edit is not there.
func missingFileError(p string) error {
	return fix.Errorf("run: stacklab install --from packages", "%s does not exist: the package that ships it is not installed", p)
}

// planFile works out the new content of f. A nil fileWrite with changed
// true is a dry-run change that cannot be rendered yet (the package that
// ships the file is not installed).
func (l *lab) planFile(f openstack.File, dryRun bool) (w *fileWrite, desc string, changed bool, err error) {
	if f.Kind == openstack.Absent {
		ok, err := l.h.Files.Exists(f.Path)
		if err != nil || !ok {
			return nil, "", false, err
		}
		return &fileWrite{path: f.Path, remove: true}, "remove " + f.Path, true, nil
	}
	cur, err := l.h.Files.ReadFile(f.Path)
	missing := errors.Is(err, fs.ErrNotExist)
	if err != nil && !missing {
		return nil, "", false, err
	}
	if missing && f.Kind != openstack.Text {
		if dryRun {
			return nil, "edit " + f.Path + " (once its package is installed)", true, nil
		}
		return nil, "", false, missingFileError(f.Path)
	}
	var next []byte
	desc = "edit " + f.Path
	switch f.Kind {
	case openstack.Text:
		next = []byte(f.Content)
		desc = "write " + f.Path
	case openstack.INI:
		before := inifile.Parse(cur)
		after := inifile.Parse(cur)
		if err := after.Apply(f.Sets); err != nil {
			return nil, "", false, fmt.Errorf("%s: %w", f.Path, err)
		}
		next = after.Bytes()
		if keys := changedKeys(before, after, f.Sets); len(keys) > 0 {
			desc += ": " + keys
		}
	case openstack.Flat:
		next = editFlat(cur, f.Sets)
	case openstack.PythonSettings:
		if err := openstack.CheckPythonSettings(string(cur)); err != nil {
			return nil, "", false, fix.Wrapf(fmt.Errorf("%s: %w", f.Path, err), "repair the Python syntax of %s (or reinstall its package), then run stacklab install again", f.Path)
		}
		s, _ := openstack.EditPythonSettings(string(cur), f.Settings)
		next = []byte(s)
	default:
		return nil, "", false, fmt.Errorf("%s: unknown file kind %q", f.Path, f.Kind)
	}
	if !missing && string(next) == string(cur) {
		return nil, "", false, nil
	}
	perm := Perm{Mode: f.Mode, Owner: f.Owner, Group: f.Group}
	return &fileWrite{path: f.Path, data: next, perm: perm}, desc, true, nil
}

// changedKeys names the settings whose value differs, never the values
// (some are passwords). At most five are listed.
func changedKeys(before, after *inifile.File, sets []inifile.Set) string {
	var keys []string
	seen := map[string]bool{}
	for _, s := range sets {
		sec := s.Section
		if sec == "" {
			sec = inifile.DefaultSection
		}
		k := "[" + sec + "] " + s.Key
		if seen[k] {
			continue
		}
		seen[k] = true
		if !slices.Equal(before.Values(s.Section, s.Key), after.Values(s.Section, s.Key)) {
			keys = append(keys, k)
		}
	}
	if len(keys) > 5 {
		return strings.Join(keys[:5], ", ") + fmt.Sprintf(" and %d more", len(keys)-5)
	}
	return strings.Join(keys, ", ")
}

// startTier starts the tier's inactive units and restarts the active ones
// whose configuration changed, in the tier's order, each job waited for;
// then it makes the tier's units start at boot and stops and disables the
// units the tier does not want.
func (l *lab) startTier(ctx context.Context, phase string, t openstack.Tier, restart map[string]bool, dryRun bool, o *outcome) error {
	all := append(slices.Clone(t.Units), t.Unwanted...)
	states, err := l.h.Units.States(ctx, all...)
	if err != nil {
		if dryRun {
			o.add("start %s", strings.Join(t.Units, " "))
			return nil
		}
		return fix.Wrapf(err, "check systemd: systemctl is-system-running")
	}
	for i, u := range t.Units {
		st := states[i]
		var do func(context.Context, string) error
		switch {
		case !st.Found():
			if !dryRun {
				return fix.Errorf("run: stacklab install --from packages", "unit %s not found: its package is not installed", u)
			}
			o.add("start %s", u)
			continue
		case st.Active() && restart[u]:
			o.add("restart %s", u)
			do = l.h.Units.Restart
		case st.Active():
			continue
		case st.Failed():
			o.add("start %s (was failed)", u)
			do = l.h.Units.Restart
		default:
			o.add("start %s", u)
			do = l.h.Units.Start
		}
		if dryRun {
			continue
		}
		l.cfg.notify(phase, "starting "+u)
		if err := do(ctx, u); err != nil {
			return fix.Wrapf(err, "read the unit's log: journalctl -u %s -n 100; fix the cause, then run: stacklab install --from %s", u, phase)
		}
	}
	return l.bootTier(ctx, t, states, dryRun, o)
}

// bootTier converges what starts at boot: every unit of the tier is
// enabled (a lab that does not come back after a reboot is the worst
// defect a lab can have), every unwanted unit is stopped and disabled.
// states holds t.Units then t.Unwanted, as read before the tier started.
func (l *lab) bootTier(ctx context.Context, t openstack.Tier, states []systemd.UnitState, dryRun bool, o *outcome) error {
	var enable, disable, stop []string
	for i, u := range t.Units {
		if st := states[i]; st.Found() && !st.StartsAtBoot() && st.LoadState != "masked" {
			enable = append(enable, u)
		}
	}
	for i, u := range t.Unwanted {
		st := states[len(t.Units)+i]
		if !st.Found() {
			continue
		}
		if st.Active() || st.ActiveState == "activating" {
			stop = append(stop, u)
		}
		// static units cannot be disabled: nothing starts them unasked.
		if st.StartsAtBoot() && st.UnitFileState != "static" {
			disable = append(disable, u)
		}
	}
	if len(enable) > 0 {
		o.add("enable %s (start at boot)", strings.Join(enable, " "))
	}
	for _, u := range stop {
		o.add("stop %s (the lab does not use it)", u)
	}
	if len(disable) > 0 {
		o.add("disable %s (the lab does not use them)", strings.Join(disable, " "))
	}
	if dryRun {
		return nil
	}
	if len(enable) > 0 {
		if err := l.h.Units.Enable(ctx, enable...); err != nil {
			return fix.Wrapf(err, "enable them by hand: systemctl enable %s", strings.Join(enable, " "))
		}
	}
	for _, u := range stop {
		if err := l.h.Units.Stop(ctx, u); err != nil {
			return fix.Wrapf(err, "stop it by hand: systemctl stop %s", u)
		}
	}
	if len(disable) > 0 {
		if err := l.h.Units.Disable(ctx, disable...); err != nil {
			return fix.Wrapf(err, "disable them by hand: systemctl disable %s", strings.Join(disable, " "))
		}
	}
	return nil
}

// ProbeError is a tier that did not answer in time, with what systemd and
// the journal say about its units.
type ProbeError struct {
	Phase   string
	Tier    string
	Probe   openstack.Probe
	Timeout time.Duration
	Err     error
	States  []systemd.UnitState
	Journal []UnitJournal
}

// UnitJournal is the tail of one unit's journal.
type UnitJournal struct {
	Unit  string
	Lines []string
}

func (e *ProbeError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s did not answer within %s: %s probe %s: %v", e.Tier, e.Timeout, e.Probe.Kind, e.Probe.Target, e.Err)
	if len(e.States) > 0 {
		b.WriteString("\n  units:")
		for _, s := range e.States {
			b.WriteString("\n    " + s.String())
		}
	}
	for _, j := range e.Journal {
		if len(j.Lines) == 0 {
			continue
		}
		fmt.Fprintf(&b, "\n  journal of %s (last %d lines):", j.Unit, len(j.Lines))
		for _, l := range j.Lines {
			b.WriteString("\n    " + l)
		}
	}
	return b.String()
}

func (e *ProbeError) Unwrap() error { return e.Err }

// Fix names the remedy. keystone can accept TCP and never answer (the
// worker deadlock in the notes): restarting it is the known way out.
func (e *ProbeError) Fix() string {
	units := make([]string, 0, len(e.States))
	for _, s := range e.States {
		units = append(units, strings.TrimSuffix(s.Name, ".service"))
	}
	fix := fmt.Sprintf("read the journal lines above (journalctl -u %s), fix the cause, then run: stacklab install --from %s",
		strings.Join(units, " -u "), phaseOfTier(e.Tier))
	if e.Tier == openstack.TierKeystone {
		fix = "if keystone is active but does not answer (worker deadlock), run: systemctl restart keystone; otherwise " + fix
	}
	return fix
}

// waitTier polls the tier's probes until all pass or timeout.
func (l *lab) waitTier(ctx context.Context, phase string, t openstack.Tier, timeout time.Duration) error {
	wctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(l.cfg.pollEvery)
	defer tick.Stop()
	restarted := false
	for _, pr := range t.Probes {
		lastSaid := time.Now()
		var hungSince time.Time
		for {
			err := l.h.Probes.Probe(wctx, pr, l.unitStart(wctx, pr.Unit))
			if err == nil {
				break
			}
			// A service that accepts and never answers while its units run
			// is wedged, not starting: keystone's worker deadlock, and twice
			// in CI a fresh Horizon WSGI daemon (a resumed install waited
			// its five minutes on one). A restart answered at once; it is
			// done once a wait, the rest of the deadline left to it.
			switch {
			case !hangs(pr, err):
				hungSince = time.Time{}
			case hungSince.IsZero():
				hungSince = time.Now()
			case !restarted && time.Since(hungSince) >= l.cfg.hangRestart:
				restarted = true
				l.cfg.notify(phase, fmt.Sprintf("%s: %s accepts connections and has not answered for %s: restarting %s once",
					t.Name, pr.Target, time.Since(hungSince).Round(time.Second), strings.Join(t.Units, ", ")))
				for _, u := range t.Units {
					if rerr := l.h.Units.Restart(wctx, u); rerr != nil {
						return l.probeError(ctx, phase, t, pr, timeout, fmt.Errorf("restart %s after it hung (%s): %w", u, err.Error(), rerr))
					}
				}
				hungSince = time.Time{}
				continue
			}
			// A long wait says why it is still waiting.
			if time.Since(lastSaid) > 15*time.Second {
				l.cfg.notify(phase, fmt.Sprintf("waiting for %s: %s probe %s: %v", t.Name, pr.Kind, pr.Target, err))
				lastSaid = time.Now()
			}
			// A unit that has stopped will not start answering: say so now
			// rather than after the whole deadline (nova-compute exits when
			// libvirt refuses it, and the wait was 5 minutes of nothing).
			if dead := l.deadUnit(wctx, t); dead != "" {
				return l.probeError(ctx, phase, t, pr, timeout, fmt.Errorf("%s while its tier was awaited: %w", dead, err))
			}
			select {
			case <-tick.C:
				continue
			case <-wctx.Done():
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return l.probeError(ctx, phase, t, pr, timeout, err)
		}
	}
	return nil
}

// hangs: an HTTP probe that timed out. On the lab's own addresses a
// connection is accepted or refused at once, so a timeout is a service that
// accepted and never answered; refused or reset is one not up yet.
func hangs(pr openstack.Probe, err error) bool {
	return pr.Kind == openstack.ProbeHTTP && cloud.TimedOut(err)
}

// idleExit reports units that stop by design when idle and are started
// again by their socket: Debian's libvirtd exits after 120 s without clients.
func idleExit(unit string) bool { return strings.TrimSuffix(unit, ".service") == "libvirtd" }

// deadUnit names the first unit of t that is inactive or failed, as opposed
// to running or on its way (activating, auto-restart), or "" if none is.
func (l *lab) deadUnit(ctx context.Context, t openstack.Tier) string {
	st, err := l.h.Units.States(ctx, t.Units...)
	if err != nil {
		return ""
	}
	for _, s := range st {
		if idleExit(s.Name) {
			continue
		}
		if s.ActiveState == "inactive" || s.ActiveState == "failed" {
			return s.Name + " stopped (" + s.ActiveState + ")"
		}
	}
	return ""
}

// unitStart is when unit's running process started: zero when unit is
// empty, not running, or systemd cannot say (the probe then takes any
// report, as it did before it asked).
func (l *lab) unitStart(ctx context.Context, unit string) time.Time {
	if unit == "" {
		return time.Time{}
	}
	st, err := l.h.Units.States(ctx, unit)
	if err != nil || len(st) != 1 {
		return time.Time{}
	}
	return st[0].Started()
}

func (l *lab) probeError(ctx context.Context, phase string, t openstack.Tier, pr openstack.Probe, timeout time.Duration, cause error) error {
	e := &ProbeError{Phase: phase, Tier: t.Name, Probe: pr, Timeout: timeout, Err: cause}
	dctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if st, err := l.h.Units.States(dctx, t.Units...); err == nil {
		e.States = st
	}
	for _, u := range t.Units {
		lines, err := l.h.Units.JournalTail(dctx, u, l.cfg.journalLines)
		if err != nil {
			lines = []string{"(journal not readable: " + err.Error() + ")"}
		}
		for i := range lines {
			lines[i] = redact(lines[i], l.p.Secrets.Values())
		}
		e.Journal = append(e.Journal, UnitJournal{Unit: u, Lines: lines})
	}
	return e
}
