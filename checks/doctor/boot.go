package doctor

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/stacklab/stacklab/checks"
	"github.com/stacklab/stacklab/internal/systemd"
)

// IDBoot is the check that every lab unit starts at boot.
const IDBoot = "units-at-boot"

// JustBooted is how recent a boot is when units that are down because
// they are not enabled are reported as "did not start with the lab".
const JustBooted = 15 * time.Minute

// StillStarting is how long after boot the lab's services may still be
// loading: on 2 cores every API answers about 2 minutes after boot
// (measured), and until then their checks time out as if hung.
const StillStarting = 3 * time.Minute

// BootRepairer makes the lab's units start at boot again. It stands apart
// from Repairer, as KeystoneURLRepairer does, so older Repairers still compile;
// Plan offers the repair only when the Repairer has it.
type BootRepairer interface {
	// EnableAtBoot enables, among units, those that would not start at
	// boot, and returns them.
	EnableAtBoot(ctx context.Context, units []string) ([]string, error)
	// StartStopped starts, in the order given, every unit that is not
	// active (a failed one is restarted), waiting for each, and returns
	// those it started.
	StartStopped(ctx context.Context, units []string) ([]string, error)
}

func (dr *doctor) bootCheck() checks.Check {
	return checks.Check{
		ID: IDBoot, Title: "the lab's units start at boot", DependsOn: []string{IDLabHost},
		Run: dr.checkBoot,
	}
}

func (dr *doctor) checkBoot(ctx context.Context) checks.Result {
	if r, ok := dr.notLab(); ok {
		return r
	}
	states, err := dr.unitStates(ctx)
	if err != nil {
		return checks.Failf("cannot read unit states: "+err.Error(), "run as root on the lab host", err.Error())
	}
	var booted time.Time
	if dr.d.Units != nil {
		booted, _ = dr.d.Units.BootTime(ctx) // unknown: the verdict says less
	}
	return BootVerdict(dr.cfg.Units, states, booted, dr.d.now())
}

// BootVerdict grades whether the lab's units start at boot. A unit that
// is not enabled and not running is the root cause of everything that
// needs it: after a reboot it is why "the dashboard suddenly won't open".
// One that runs but is not enabled only warns: the next reboot breaks the
// lab. Masked units are left to their unit check, whose fix unmasks; a
// unit whose enablement systemd does not report is not judged.
func BootVerdict(units []string, states map[string]systemd.UnitState, booted, now time.Time) checks.Result {
	var off, down, alsoDown []string
	var ev []string
	if !booted.IsZero() {
		ev = append(ev, fmt.Sprintf("booted %s (%s ago)", booted.Format(time.RFC3339), now.Sub(booted).Round(time.Second)))
	}
	for _, u := range units {
		s, ok := states[u]
		if !ok || s.UnitFileState == "" || s.LoadState == "masked" {
			continue
		}
		running := s.Active() || s.ActiveState == "activating"
		switch {
		case !s.StartsAtBoot() && !running:
			off, down = append(off, u), append(down, u)
			ev = append(ev, fmt.Sprintf("%s: %s, %s/%s", u, s.UnitFileState, s.ActiveState, s.SubState))
		case !s.StartsAtBoot():
			off = append(off, u)
			ev = append(ev, fmt.Sprintf("%s: %s, but %s/%s now", u, s.UnitFileState, s.ActiveState, s.SubState))
		case !s.Active():
			alsoDown = append(alsoDown, u+" "+s.ActiveState+"/"+s.SubState)
		}
	}
	if len(off) == 0 {
		if age := now.Sub(booted); !booted.IsZero() && age < StillStarting {
			return checks.Warnf(fmt.Sprintf("the lab booted %s ago: its services may still be starting, and checks below may fail until they answer",
				age.Round(time.Second)), "wait a minute, then run stacklab doctor again", ev...)
		}
		return checks.Pass("every lab unit starts at boot", ev...)
	}
	if len(alsoDown) > 0 {
		ev = append(ev, "also not active, most likely because they need the units above: "+strings.Join(alsoDown, ", "))
	}
	byHand := "systemctl enable " + strings.Join(off, " ")
	if len(down) == 0 {
		return checks.Warnf(fmt.Sprintf("%s not enabled: running now, but the next reboot leaves %s down (%s)",
			count(len(off), "lab unit is", "lab units are"), them(len(off)), strings.Join(off, ", ")),
			"stacklab doctor --fix   (or: "+byHand+")", ev...)
	}
	what := fmt.Sprintf("%s not enabled and not running (%s)", count(len(down), "lab unit is", "lab units are"), strings.Join(down, ", "))
	if !booted.IsZero() && now.Sub(booted) < JustBooted {
		pronoun := "they are"
		if len(down) == 1 {
			pronoun = "it is"
		}
		what = fmt.Sprintf("the lab was booted %s ago and %s not start with it: %s not enabled (%s)",
			now.Sub(booted).Round(time.Second), count(len(down), "lab unit did", "lab units did"), pronoun, strings.Join(down, ", "))
	}
	return checks.Failf(what,
		"stacklab doctor --fix   (enables them and starts the lab's stopped units in tier order; or by hand: "+
			byHand+" && stacklab services start)", ev...)
}

func count(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

func them(n int) string {
	if n == 1 {
		return "it"
	}
	return "them"
}
