package doctor

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"time"
)

// DashboardUnit serves Horizon: a restart of it is done when the dashboard
// answers again, not when systemd's job ends.
const DashboardUnit = "apache2"

// Restarter restarts units for doctor --fix. apache2 is restarted until
// Horizon answers: its WSGI daemon starts afresh with each restart, and
// twice in CI a fresh one accepted requests and never answered (five
// minutes after apache2 started in a resumed install; the 90 s of --fix's
// wait after an ALLOWED_HOSTS repair, where the next restart answered at
// once). So a daemon that does not answer within Wait is restarted once
// more.
type Restarter struct {
	Units interface {
		Restart(ctx context.Context, unit string) error
	}
	// Dashboard is Horizon's login page; "" restarts apache2 as any unit.
	Dashboard string
	// Wait bounds each wait for an answer (0: DefaultDashboardWait);
	// Poll spaces the questions (0: one second).
	Wait, Poll time.Duration
	// Note, if set, is told of the second restart: the user sees one
	// repair and should know it took two.
	Note func(string)
}

// DefaultDashboardWait covers a fresh WSGI daemon loading Horizon on a
// loaded 2-core lab (measured 1–3 s, longer than doctor's 3 s probe once
// beside another install) with room to spare.
const DefaultDashboardWait = 45 * time.Second

// dashboardAskTimeout bounds one question: long enough to ride out the
// daemon's first load in one request rather than give up mid-load.
const dashboardAskTimeout = 15 * time.Second

func (r Restarter) Restart(ctx context.Context, unit string) error {
	if unit != DashboardUnit || r.Dashboard == "" {
		return r.Units.Restart(ctx, unit)
	}
	var last error
	for attempt := 1; attempt <= 2; attempt++ {
		if err := r.Units.Restart(ctx, unit); err != nil {
			return err
		}
		if last = r.waitAnswer(ctx); last == nil || ctx.Err() != nil {
			return last
		}
		if attempt == 1 && r.Note != nil {
			r.Note(fmt.Sprintf("the dashboard did not answer after %s restarted (%v): restarting it once more", unit, last))
		}
	}
	return fmt.Errorf("restarted %s twice and the dashboard still does not answer: %w (see /var/log/apache2/error.log)", unit, last)
}

// waitAnswer asks the login page until it answers with any HTTP status:
// whether the answer is right is the checks' business after the repairs.
func (r Restarter) waitAnswer(ctx context.Context) error {
	wait, poll := r.Wait, r.Poll
	if wait <= 0 {
		wait = DefaultDashboardWait
	}
	if poll <= 0 {
		poll = time.Second
	}
	// No proxy: the dashboard is on the lab's own address.
	hc := &http.Client{Transport: &http.Transport{Proxy: nil}}
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	for {
		err := ask(ctx, hc, r.Dashboard)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: no answer in %s: %w", r.Dashboard, wait, err)
		case <-time.After(poll):
		}
	}
}

func ask(ctx context.Context, hc *http.Client, u string) error {
	ctx, cancel := context.WithTimeout(ctx, dashboardAskTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	_ = resp.Body.Close() // it answered: the body says nothing more
	return nil
}
