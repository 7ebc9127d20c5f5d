package doctor

import (
	"context"
	"strings"
	"testing"

	"github.com/stacklab/stacklab/checks"
	"github.com/stacklab/stacklab/internal/systemd"
)

// resultUnits is fakeUnits with systemd's Result per unit.
type resultUnits struct {
	fakeUnits
	result map[string]string
}

func (f resultUnits) States(ctx context.Context, units ...string) ([]systemd.UnitState, error) {
	list, err := f.fakeUnits.States(ctx, units...)
	for i, s := range list {
		list[i].Result = f.result[strings.TrimSuffix(s.Name, ".service")]
	}
	return list, err
}

const kernelOOM = `2026-12-04T05:01:02+0000 lab kernel: nova-api invoked oom-killer: gfp_mask=0x140cca(GFP_HIGHUSER_MOVABLE|__GFP_COMP), order=0, oom_score_adj=0
2026-12-04T05:01:02+0000 lab kernel: Out of memory: Killed process 4242 (nova-api) total-vm:2215984kB, anon-rss:1803764kB, file-rss:0kB, shmem-rss:0kB, UID:64060 pgtables:4044kB oom_score_adj:0
`

func TestOOMVerdict(t *testing.T) {
	kills := OOMKills(strings.Split(kernelOOM, "\n"))
	if len(kills) != 1 || kills[0].PID != 4242 || kills[0].Process != "nova-api" {
		t.Fatalf("kills %+v", kills)
	}
	down := systemd.UnitState{Name: "nova-api.service", LoadState: "loaded", ActiveState: "failed", SubState: "failed", Result: "oom-kill"}
	up := systemd.UnitState{Name: "keystone.service", LoadState: "loaded", ActiveState: "active", SubState: "running", Result: "success"}
	for _, tt := range []struct {
		name    string
		states  []systemd.UnitState
		kills   []OOMKill
		status  checks.Status
		summary string
		fix     string
	}{
		{"healthy", []systemd.UnitState{up}, nil, checks.OK, "no service killed", ""},
		{"unit killed, kernel log", []systemd.UnitState{up, down}, kills, checks.Fail,
			"the kernel's OOM killer killed process nova-api of nova-api: the host ran out of memory", "then systemctl restart nova-api"},
		{"unit killed, no kernel log (a container)", []systemd.UnitState{down}, nil, checks.Fail, "killed nova-api: the host ran out of memory", "services.workers"},
		{"recovered", []systemd.UnitState{up}, kills, checks.Warn, "killed nova-api in the last hour", "8 GB of RAM"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := OOMVerdict(tt.states, tt.kills, "MemTotal 3.8 GB")
			if r.Status != tt.status || !strings.Contains(r.Summary, tt.summary) || !strings.Contains(r.Fix, tt.fix) {
				t.Errorf("%s %q\nfix %q\nevidence %q", r.Status, r.Summary, r.Fix, r.Evidence)
			}
		})
	}
	if got := memSummary([]byte("MemTotal:        3995012 kB\nMemFree: 1 kB\nMemAvailable:     209716 kB\n")); got != "MemTotal 3.8 GB, MemAvailable 0.2 GB" {
		t.Errorf("memSummary %q", got)
	}
}

// An OOM-killed unit is the root cause: the unit and what needs it are
// skipped behind it; the kernel's log is read with a short window.
func TestOOMRootCause(t *testing.T) {
	w := newWorld(t)
	w.deps.Units = resultUnits{fakeUnits: fakeUnits{states: map[string]string{"keystone": "failed"}}, result: map[string]string{"keystone": "oom-kill"}}
	h := w.deps.Host.(fakeHost)
	var since string
	h.run = func(name string, args ...string) ([]byte, error) {
		switch name {
		case "journalctl":
			since = args[len(args)-1]
			return []byte(strings.ReplaceAll(kernelOOM, "nova-api", "keystone")), nil
		case "mysql":
			return []byte(healthyMySQL), nil
		}
		return []byte("Syntax OK\n"), nil
	}
	w.deps.Host = h
	rep := w.run(t)
	if roots := rep.RootCauses(); len(roots) != 1 || roots[0] != IDOOMKill {
		var b strings.Builder
		_ = rep.WriteText(&b, checks.TextOptions{})
		t.Fatalf("roots %v\n%s", roots, b.String())
	}
	if since != "--since=-1h" {
		t.Errorf("journalctl window %q", since)
	}
	for _, id := range []string{UnitID("keystone"), IDKeystone, UnitID("mariadb")} {
		if s, rc := status(rep, id); s != checks.Skip || len(rc) != 1 || rc[0] != IDOOMKill {
			t.Errorf("%s: %s %v, want skipped naming %s", id, s, rc, IDOOMKill)
		}
	}
	if p := Plan(rep, w.cfg, &recordingRepairer{}); len(p) != 0 {
		t.Errorf("an OOM kill has no automatic repair: %+v", p)
	}
}
