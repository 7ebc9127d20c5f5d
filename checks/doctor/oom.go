package doctor

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/stacklab/stacklab/checks"
	"github.com/stacklab/stacklab/internal/systemd"
)

// IDOOMKill is the check that the kernel's OOM killer has not killed a
// lab service.
const IDOOMKill = "oom-kill"

// OOMWindow is how far back the kernel's log is read for OOM kills: long
// enough to explain "it stopped working this afternoon", short enough
// that a kill the lab has long recovered from is not news.
const OOMWindow = "-1h"

// oomUnitResult is systemd's Result for a service a process of which the
// kernel's OOM killer killed.
const oomUnitResult = "oom-kill"

// oomKillRE reads the kernel's "Out of memory: Killed process 4242
// (nova-api) total-vm:…" and its cgroup twin "Memory cgroup out of memory:
// Killed process …".
var oomKillRE = regexp.MustCompile(`Killed process (\d+) \(([^)]+)\)`)

// OOMKill is one kill in the kernel's log.
type OOMKill struct {
	PID     int
	Process string
	Line    string
}

// OOMKills reads the kills from kernel log lines.
func OOMKills(lines []string) []OOMKill {
	var out []OOMKill
	for _, l := range lines {
		if m := oomKillRE.FindStringSubmatch(l); m != nil {
			pid, _ := strconv.Atoi(m[1])
			out = append(out, OOMKill{PID: pid, Process: m[2], Line: strings.TrimSpace(l)})
		}
	}
	return out
}

var memLineRE = regexp.MustCompile(`(?m)^(MemTotal|MemAvailable|SwapTotal|SwapFree):\s+(\d+) kB`)

// memSummary is /proc/meminfo's totals in GB, for evidence.
func memSummary(meminfo []byte) string {
	var parts []string
	for _, m := range memLineRE.FindAllSubmatch(meminfo, -1) {
		kb, _ := strconv.ParseFloat(string(m[2]), 64)
		parts = append(parts, fmt.Sprintf("%s %.1f GB", m[1], kb/1024/1024))
	}
	return strings.Join(parts, ", ")
}

const oomFix = "the lab needs about 6 GB resident: give the VM 8 GB of RAM or more, or add swap " +
	"(fallocate -l 4G /swapfile && chmod 600 /swapfile && mkswap /swapfile && swapon /swapfile, and a line in /etc/fstab); " +
	"fewer workers use less: set services.workers in /etc/stacklab/stacklab.yaml (1 on a small VM), then stacklab install --yes"

// OOMVerdict grades the units' last results (in the lab's order) and the
// kernel's recent OOM kills: a unit systemd stopped with Result oom-kill
// is down because of memory (the failure); a kill of a lab process the
// units have recovered from is a warning that it will happen again.
func OOMVerdict(states []systemd.UnitState, kills []OOMKill, mem string) checks.Result {
	var ev, killed []string
	var units []string
	for _, s := range states {
		if s.Result == oomUnitResult {
			u := strings.TrimSuffix(s.Name, ".service")
			units = append(units, u)
			ev = append(ev, s.String()+", last result: "+s.Result)
		}
	}
	for _, k := range kills {
		ev = append(ev, "kernel: "+k.Line)
		if !slices.Contains(killed, k.Process) {
			killed = append(killed, k.Process)
		}
	}
	if mem != "" {
		ev = append(ev, "memory: "+mem)
	}
	if len(units) > 0 {
		what := strings.Join(units, ", ")
		if len(killed) > 0 {
			what = "process " + strings.Join(killed, ", ") + " of " + what
		}
		return checks.Failf("the kernel's OOM killer killed "+what+": the host ran out of memory",
			oomFix+"; then systemctl restart "+strings.Join(units, " "), ev...)
	}
	if len(kills) > 0 {
		return checks.Warnf("the kernel's OOM killer killed "+strings.Join(killed, ", ")+" in the last hour: the host runs out of memory",
			oomFix, ev...)
	}
	return checks.Pass("no service killed for memory", ev...)
}

func (dr *doctor) checkOOM(ctx context.Context) checks.Result {
	if r, ok := dr.notLab(); ok {
		return r
	}
	states, err := dr.unitStates(ctx)
	if err != nil {
		// The unit checks report that systemd is unreachable; failing
		// here would only hide them behind this check.
		return checks.Skipped("cannot read unit states: " + err.Error())
	}
	var list []systemd.UnitState
	for _, u := range dr.cfg.Units {
		if s, ok := states[u]; ok {
			list = append(list, s)
		}
	}
	// The kernel's log: absent in a container (no /dev/kmsg of its own),
	// which leaves systemd's Result as the evidence.
	kctx, cancel := context.WithTimeout(ctx, dr.cfg.probe())
	defer cancel()
	var kills []OOMKill
	if out, err := dr.d.Host.Run(kctx, "journalctl", "-k", "-q", "--no-pager", "-o", "short-iso", "--since="+OOMWindow); err == nil {
		kills = OOMKills(strings.Split(string(out), "\n"))
	}
	mem := ""
	if b, err := dr.d.Host.ReadFile("/proc/meminfo"); err == nil {
		mem = memSummary(b)
	}
	return OOMVerdict(list, kills, mem)
}
