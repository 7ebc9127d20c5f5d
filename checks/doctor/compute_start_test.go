package doctor

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stacklab/stacklab/checks"
	"github.com/stacklab/stacklab/internal/systemd"
)

// startedUnits is the healthy systemd with units started at given times.
type startedUnits struct {
	fakeUnits
	since map[string]time.Time
}

func (s startedUnits) States(ctx context.Context, units ...string) ([]systemd.UnitState, error) {
	list, err := s.fakeUnits.States(ctx, units...)
	for i, u := range units {
		list[i].Since = s.since[u]
	}
	return list, err
}

// A doctor run just after a boot: nova-compute started at 10:00:30 and nova
// still calls it up on the report of the process before the boot. doctor
// fails compute-services with a wait, not a restart; once the running
// process has reported, the same lab is healthy.
func TestDoctorWaitsForNovaComputesOwnReport(t *testing.T) {
	start := time.Date(2026, 12, 7, 10, 0, 30, 400e6, time.UTC)
	var updated string
	w, _, _ := apiWorldWith(t, map[string]http.HandlerFunc{
		"GET /compute/v2.1/os-services": func(rw http.ResponseWriter, _ *http.Request) {
			rw.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(rw, `{"services":[{"id":1,"binary":"nova-compute","host":"lab","status":"enabled","state":"up","updated_at":"`+updated+`"}]}`)
		},
	})
	w.cfg.Units = append(w.cfg.Units, "nova-compute")
	w.deps.Units = startedUnits{fakeUnits: fakeUnits{states: map[string]string{}}, since: map[string]time.Time{"nova-compute": start}}

	updated = "2026-12-07T10:00:05.000000" // before the boot
	rep, err := checks.Run(context.Background(), Checks(w.cfg, w.deps), checks.Options{})
	if err != nil {
		t.Fatal(err)
	}
	e, _ := rep.Get(IDComputeServices)
	if e.Status != checks.Fail || !strings.Contains(e.Summary, "has not reported since it started") || !strings.Contains(e.Fix, "wait") {
		t.Fatalf("compute-services on the previous process's report: %s %q (fix %q)", e.Status, e.Summary, e.Fix)
	}
	if !strings.Contains(strings.Join(e.Evidence, "\n"), "started at 10:00:30; its last report to nova is from 10:00:05") {
		t.Errorf("evidence %q does not give both times", e.Evidence)
	}
	for _, r := range Plan(rep, w.cfg, &recordingRepairer{}) {
		if r.For == IDComputeServices {
			t.Errorf("--fix would %q: nova-compute is starting, not down", r.Description)
		}
	}

	updated = "2026-12-07T10:00:46.000000" // its own first report
	w.runAll(t)
}
