package main

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/stacklab/stacklab/checks"
)

func report(failing ...string) checks.Report {
	var r checks.Report
	for _, id := range []string{"glance-api", "neutron-api"} {
		st := checks.OK
		if slices.Contains(failing, id) {
			st = checks.Fail
		}
		r.Entries = append(r.Entries, checks.Entry{ID: id, Result: checks.Result{Status: st}})
	}
	return r
}

// A lab whose services are still starting turns healthy within the
// window: up's doctor reports the healthy run, having said each time it
// looked again; a lab that stays broken is reported broken once the
// window is over; an error or an interrupt ends it at once.
func TestSettle(t *testing.T) {
	ctx := context.Background()
	seq := func(reps ...checks.Report) (func(context.Context) (checks.Report, error), *int) {
		n := 0
		return func(context.Context) (checks.Report, error) {
			r := reps[min(n, len(reps)-1)]
			n++
			return r, nil
		}, &n
	}

	check, runs := seq(report("glance-api", "neutron-api"), report("neutron-api"), report())
	var said [][]string
	rep, err := settle(ctx, time.Minute, time.Millisecond, check, func(r checks.Report, left time.Duration) {
		if left <= 0 || left > time.Minute {
			t.Errorf("left %v", left)
		}
		said = append(said, failedIDs(r))
	})
	if err != nil || rep.Failed() || *runs != 3 {
		t.Errorf("settling lab: failed=%v err=%v runs=%d; want healthy after 3 runs", rep.Failed(), err, *runs)
	}
	if want := [][]string{{"glance-api", "neutron-api"}, {"neutron-api"}}; !slices.EqualFunc(said, want, slices.Equal) {
		t.Errorf("said %v, want %v", said, want)
	}

	check, runs = seq(report("glance-api"))
	rep, err = settle(ctx, 20*time.Millisecond, 5*time.Millisecond, check, func(checks.Report, time.Duration) {})
	if err != nil || !rep.Failed() || *runs < 2 {
		t.Errorf("broken lab: failed=%v err=%v runs=%d; want the failing report after several runs", rep.Failed(), err, *runs)
	}

	boom := errors.New("systemd went away")
	n := 0
	_, err = settle(ctx, time.Minute, time.Millisecond, func(context.Context) (checks.Report, error) { n++; return checks.Report{}, boom }, nil)
	if !errors.Is(err, boom) || n != 1 {
		t.Errorf("error: %v after %d runs; want it at once", err, n)
	}

	cctx, cancel := context.WithCancel(ctx)
	check, runs = seq(report("glance-api"))
	_, err = settle(cctx, time.Minute, time.Hour, check, func(checks.Report, time.Duration) { cancel() })
	if !errors.Is(err, context.Canceled) || *runs != 1 {
		t.Errorf("interrupted: %v after %d runs; want context.Canceled after 1", err, *runs)
	}
}
