package systemd_test

import (
	"context"
	"errors"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stacklab/stacklab/internal/systemd"
	"github.com/stacklab/stacklab/internal/systemd/systemdtest"
)

const sleepUnit = `[Unit]
Description=stacklab test sleeper
[Service]
ExecStart=/bin/sleep infinity
[Install]
WantedBy=multi-user.target
`

// oneshot, so the start job waits for the failing process: like a
// Type=notify OpenStack unit dying before READY.
const failUnit = `[Unit]
Description=stacklab test failure
[Service]
Type=oneshot
ExecStart=/bin/sh -c 'echo stk-first-words; echo stk-boom-marker >&2; exit 3'
`

const slowUnit = `[Service]
Type=oneshot
ExecStart=/bin/sleep 60
`

func state(t *testing.T, c *systemd.Client, unit string) systemd.UnitState {
	t.Helper()
	st, err := c.States(context.Background(), unit)
	if err != nil {
		t.Fatal(err)
	}
	if len(st) != 1 {
		t.Fatalf("States(%s) returned %d states", unit, len(st))
	}
	return st[0]
}

func TestRealSystemd(t *testing.T) {
	in := systemdtest.Boot(t)
	c := in.Client()
	in.WriteUnit("stk-sleep.service", sleepUnit)
	in.WriteUnit("stk-fail.service", failUnit)
	in.WriteUnit("stk-slow.service", slowUnit)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	var firstPID uint32
	t.Run("start", func(t *testing.T) {
		before := time.Now().Add(-time.Second)
		if err := c.Start(ctx, "stk-sleep"); err != nil {
			t.Fatal(err)
		}
		s := state(t, c, "stk-sleep")
		if s.Name != "stk-sleep.service" || s.LoadState != "loaded" || !s.Active() || s.SubState != "running" {
			t.Errorf("after start: %v, want stk-sleep.service loaded/active/running", s)
		}
		if s.MainPID == 0 {
			t.Errorf("after start: MainPID 0")
		}
		if s.Since.Before(before) || s.Since.After(time.Now().Add(time.Second)) {
			t.Errorf("since = %v, want about now", s.Since)
		}
		if s.Result != "success" {
			t.Errorf("result = %q, want success", s.Result)
		}
		firstPID = s.MainPID
	})
	t.Run("restart changes MainPID", func(t *testing.T) {
		if err := c.Restart(ctx, "stk-sleep.service"); err != nil {
			t.Fatal(err)
		}
		s := state(t, c, "stk-sleep")
		if !s.Active() || s.MainPID == 0 || s.MainPID == firstPID {
			t.Errorf("after restart: %v, want active with a MainPID other than %d", s, firstPID)
		}
	})
	t.Run("try-restart of a running unit", func(t *testing.T) {
		pid := state(t, c, "stk-sleep").MainPID
		if err := c.TryRestart(ctx, "stk-sleep"); err != nil {
			t.Fatal(err)
		}
		if s := state(t, c, "stk-sleep"); !s.Active() || s.MainPID == pid {
			t.Errorf("after try-restart: %v, want active with a new MainPID", s)
		}
	})
	t.Run("stop", func(t *testing.T) {
		if err := c.Stop(ctx, "stk-sleep"); err != nil {
			t.Fatal(err)
		}
		s := state(t, c, "stk-sleep")
		// No since check: systemd unloads a stopped unit nothing
		// references and then has no timestamps for it.
		if s.ActiveState != "inactive" || s.SubState != "dead" || s.MainPID != 0 {
			t.Errorf("after stop: %#v, want inactive/dead, no MainPID", s)
		}
		// Stopping a stopped unit is not an error.
		if err := c.Stop(ctx, "stk-sleep"); err != nil {
			t.Errorf("second stop: %v", err)
		}
	})
	t.Run("try-restart leaves a stopped unit stopped", func(t *testing.T) {
		if err := c.TryRestart(ctx, "stk-sleep"); err != nil {
			t.Fatal(err)
		}
		if s := state(t, c, "stk-sleep"); s.ActiveState != "inactive" {
			t.Errorf("after try-restart: %v, want inactive", s)
		}
	})
	t.Run("failed start carries journal", func(t *testing.T) {
		err := c.Start(ctx, "stk-fail")
		if !errors.Is(err, systemd.ErrJobFailed) {
			t.Fatalf("Start = %v, want ErrJobFailed", err)
		}
		var je *systemd.JobError
		if !errors.As(err, &je) {
			t.Fatalf("Start = %T, want *JobError", err)
		}
		if je.Op != "start" || je.Unit != "stk-fail.service" || je.Result != "failed" || je.UnitResult != "exit-code" {
			t.Errorf("JobError = %+v, want start stk-fail.service failed exit-code", je)
		}
		if !slices.Contains(je.Journal, "stk-boom-marker") {
			t.Errorf("journal %q (err %v) lacks the unit's output", je.Journal, je.JournalErr)
		}
		if !strings.Contains(err.Error(), "stk-boom-marker") || !strings.Contains(err.Error(), "stk-fail.service") {
			t.Errorf("error text %q lacks unit or journal", err)
		}
		// A failed unit stays loaded, so doctor sees since when.
		if s := state(t, c, "stk-fail"); !s.Failed() || s.Result != "exit-code" || time.Since(s.Since) > time.Minute {
			t.Errorf("state %v, want failed exit-code since just now", s)
		}
		lines, err := c.JournalTail(ctx, "stk-fail", 50)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Contains(lines, "stk-first-words") {
			t.Errorf("JournalTail = %q, want stk-first-words", lines)
		}
		if lines, err := c.JournalTail(ctx, "stk-fail", 1); err != nil || len(lines) != 1 {
			t.Errorf("JournalTail n=1 = %q, %v; want one line", lines, err)
		}
	})
	t.Run("reset-failed", func(t *testing.T) {
		if err := c.ResetFailed(ctx); err != nil {
			t.Fatal(err)
		}
		if s := state(t, c, "stk-fail"); s.Failed() {
			t.Errorf("after reset-failed: %v", s)
		}
	})
	t.Run("mask prevents start, unmask allows it", func(t *testing.T) {
		if err := c.Mask(ctx, "stk-sleep", "stk-not-installed-yet"); err != nil {
			t.Fatal(err)
		}
		if s := state(t, c, "stk-sleep"); s.LoadState != "masked" {
			t.Errorf("after mask: %v, want masked", s)
		}
		if s := state(t, c, "stk-not-installed-yet"); s.LoadState != "masked" {
			t.Errorf("mask of a unit not installed: %v, want masked", s)
		}
		if _, err := os.Lstat(in.Root() + "/run/systemd/system/stk-sleep.service"); err != nil {
			t.Errorf("no runtime mask link: %v", err)
		}
		err := c.Start(ctx, "stk-sleep")
		if !errors.Is(err, systemd.ErrUnitMasked) {
			t.Fatalf("Start of masked unit = %v, want ErrUnitMasked", err)
		}
		// Idempotent: the installer re-applies the hold on every run.
		if err := c.Mask(ctx, "stk-sleep"); err != nil {
			t.Errorf("second mask: %v", err)
		}
		if err := c.Unmask(ctx, "stk-sleep", "stk-not-installed-yet"); err != nil {
			t.Fatal(err)
		}
		if err := c.Start(ctx, "stk-sleep"); err != nil {
			t.Fatalf("Start after unmask: %v", err)
		}
		if s := state(t, c, "stk-sleep"); !s.Active() {
			t.Errorf("after unmask+start: %v", s)
		}
		if err := c.Stop(ctx, "stk-sleep"); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("enable creates the wants link, disable removes it", func(t *testing.T) {
		link := in.Root() + "/etc/systemd/system/multi-user.target.wants/stk-sleep.service"
		if err := c.Enable(ctx, "stk-sleep"); err != nil {
			t.Fatal(err)
		}
		if dst, err := os.Readlink(link); err != nil || !strings.HasSuffix(dst, "/stk-sleep.service") {
			t.Errorf("wants link: %q, %v", dst, err)
		}
		if _, err := os.Lstat("/etc/systemd/system/multi-user.target.wants/stk-sleep.service"); !os.IsNotExist(err) {
			t.Errorf("enable reached the host's /etc: %v", err)
		}
		if s := state(t, c, "stk-sleep"); s.Active() {
			t.Errorf("enable started the unit: %v", s)
		}
		if s := state(t, c, "stk-sleep"); s.UnitFileState != "enabled" || !s.StartsAtBoot() {
			t.Errorf("after enable: unit file state %q, want enabled", s.UnitFileState)
		}
		if err := c.Disable(ctx, "stk-sleep"); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Lstat(link); !os.IsNotExist(err) {
			t.Errorf("after disable: %v, want no link", err)
		}
		if s := state(t, c, "stk-sleep"); s.UnitFileState != "disabled" || s.StartsAtBoot() {
			t.Errorf("after disable: unit file state %q, want disabled", s.UnitFileState)
		}
		// A unit without [Install] is static: started by others, never "disabled".
		if s := state(t, c, "stk-slow"); s.UnitFileState != "static" || !s.StartsAtBoot() {
			t.Errorf("unit without [Install]: unit file state %q, want static", s.UnitFileState)
		}
	})
	t.Run("unknown unit", func(t *testing.T) {
		if s := state(t, c, "stk-nope"); s.LoadState != "not-found" || s.Found() {
			t.Errorf("state of unknown unit: %v, want not-found", s)
		}
		if err := c.Start(ctx, "stk-nope"); !errors.Is(err, systemd.ErrNoSuchUnit) {
			t.Errorf("Start of unknown unit = %v, want ErrNoSuchUnit", err)
		}
	})
	t.Run("several units in one call, in the order asked", func(t *testing.T) {
		// One listing answers them all: a missing unit among them is
		// reported in its place, not as an error.
		if err := c.Start(ctx, "stk-sleep"); err != nil {
			t.Fatal(err)
		}
		defer c.Stop(ctx, "stk-sleep")
		st, err := c.States(ctx, "stk-nope", "stk-sleep", "stk-fail.service")
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, s := range st {
			got = append(got, s.Name+" "+s.LoadState+" "+s.ActiveState)
		}
		want := []string{"stk-nope.service not-found inactive", "stk-sleep.service loaded active", "stk-fail.service loaded inactive"}
		if !slices.Equal(got, want) {
			t.Errorf("States = %q, want %q", got, want)
		}
		if st[1].MainPID == 0 || st[1].Since.IsZero() || st[1].UnitFileState != "disabled" {
			t.Errorf("running unit %#v: want its MainPID, since and unit file state", st[1])
		}
	})
	t.Run("units by pattern", func(t *testing.T) {
		// Only loaded units are listed: systemd unloads a stopped,
		// unreferenced unit.
		if err := c.Start(ctx, "stk-sleep"); err != nil {
			t.Fatal(err)
		}
		defer c.Stop(ctx, "stk-sleep")
		names, err := c.Units(ctx, "stk-*")
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Contains(names, "stk-sleep.service") {
			t.Errorf("Units(stk-*) = %q, want stk-sleep.service", names)
		}
	})
	t.Run("waiting is bounded by ctx", func(t *testing.T) {
		short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
		defer cancel()
		err := c.Start(short, "stk-slow")
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Start of slow unit = %v, want DeadlineExceeded", err)
		}
		// The connection is still usable after an abandoned wait.
		if err := c.Stop(ctx, "stk-slow"); err != nil {
			t.Fatal(err)
		}
		if s := state(t, c, "stk-slow"); s.Active() || s.ActiveState == "activating" {
			t.Errorf("after stop: %v", s)
		}
	})
	t.Run("boot time", func(t *testing.T) {
		bt, err := c.BootTime(ctx)
		if err != nil {
			t.Fatal(err)
		}
		// The instance was booted by this test a moment ago.
		if age := time.Since(bt); age < 0 || age > 5*time.Minute {
			t.Errorf("BootTime = %v (%v ago), want this test's boot", bt, age)
		}
	})
	t.Run("system state", func(t *testing.T) {
		s, err := c.SystemState(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if s != "running" && s != "degraded" {
			t.Errorf("SystemState = %q", s)
		}
		active, err := c.Units(ctx)
		if err != nil {
			t.Fatal(err)
		}
		states, err := c.States(ctx, active...)
		if err != nil {
			t.Fatal(err)
		}
		// The calls run concurrently; the answers keep the order asked.
		if len(states) != len(active) {
			t.Fatalf("States of %d units returned %d", len(active), len(states))
		}
		for i, s := range states {
			if s.Name != active[i] {
				t.Errorf("States[%d] = %s, asked %s", i, s.Name, active[i])
			}
		}
		var running []string
		for _, s := range states {
			if s.Active() && strings.HasSuffix(s.Name, ".service") {
				running = append(running, s.Name)
			}
		}
		t.Logf("services running in the instance: %v", running)
	})
}
