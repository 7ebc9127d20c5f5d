package doctor

import (
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stacklab/stacklab/checks"
)

// catalogWatch tells when keystone's live catalog was first asked for, and
// can answer that first request 503, as keystone does while it starts.
type catalogWatch struct {
	next      http.RoundTripper
	once      sync.Once
	asked     chan struct{}
	failFirst bool
	failed    atomic.Bool
}

func (c *catalogWatch) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method != http.MethodGet || r.URL.Path != "/v3/auth/catalog" {
		return c.next.RoundTrip(r)
	}
	first := false
	c.once.Do(func() { first = true; close(c.asked) })
	if first && c.failFirst {
		c.failed.Store(true)
		return &http.Response{StatusCode: http.StatusServiceUnavailable, Status: "503 Service Unavailable",
			Header: http.Header{"Content-Type": {"application/json"}}, Request: r,
			Body: io.NopCloser(strings.NewReader(`{"error":{"code":503,"message":"starting"}}`))}, nil
	}
	return c.next.RoundTrip(r)
}

// watchedAPIWorld is apiWorld with its catalog reads watched and systemd
// answering only once the catalog was asked for (or after a second).
func watchedAPIWorld(t *testing.T, failFirst bool) (*world, *countingTransport, *catalogWatch, *atomic.Bool) {
	w, _, ct := apiWorld(t)
	cw := &catalogWatch{next: ct.next, asked: make(chan struct{}), failFirst: failFirst}
	ct.next = cw
	var before atomic.Bool
	w.deps.Units = gatedUnits{fakeUnits: fakeUnits{states: map[string]string{}}, started: cw.asked, before: &before}
	return w, ct, cw, &before
}

// The token and the live catalog are read as the run begins, beside the
// unit checks keystone-auth waits behind, and read once: keystone-auth and
// the catalog check grade that reading.
func TestAuthReadStartsWithTheRun(t *testing.T) {
	w, ct, _, before := watchedAPIWorld(t, false)
	rep := w.runAll(t)
	if !before.Load() {
		t.Error("the catalog had not been asked for when systemd's unit states were answered")
	}
	for _, id := range []string{IDKeystoneAuth, IDCatalog} {
		if e, _ := rep.Get(id); e.Status != checks.OK {
			t.Errorf("%s: %s %q", id, e.Status, e.Summary)
		}
	}
	if n := timesSent(ct.take(), "GET /v3/auth/catalog"); n != 1 {
		t.Errorf("the catalog was read %d times, want once", n)
	}
}

// A reading that failed as the run began is not keystone-auth's verdict:
// keystone may have been coming back. The check reads again once keystone
// answered, and grades that.
func TestAuthReadThatFailedIsReadAgain(t *testing.T) {
	w, ct, cw, _ := watchedAPIWorld(t, true)
	rep := w.runAll(t)
	if !cw.failed.Load() {
		t.Fatal("the first catalog read was not answered 503")
	}
	if e, _ := rep.Get(IDKeystoneAuth); e.Status != checks.OK {
		t.Errorf("keystone-auth: %s %q %q, want a pass from a second reading", e.Status, e.Summary, e.Evidence)
	}
	if n := timesSent(ct.take(), "GET /v3/auth/catalog"); n != 2 {
		t.Errorf("the catalog was read %d times, want twice", n)
	}
}
