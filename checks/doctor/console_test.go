package doctor

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/coder/websocket"

	"github.com/stacklab/stacklab/checks"
)

// consoleWorld is the healthy API world with one ACTIVE instance whose
// console URL leads to proxy, a stand-in for nova-novncproxy.
func consoleWorld(t *testing.T, proxy http.Handler) *world {
	t.Helper()
	px := httptest.NewServer(proxy)
	t.Cleanup(px.Close)
	w, _, _ := apiWorldWith(t, map[string]http.HandlerFunc{
		"GET /compute/v2.1/servers/detail": func(rw http.ResponseWriter, r *http.Request) {
			if r.URL.Query().Get("status") != "ACTIVE" {
				t.Errorf("servers listed with %q, want ACTIVE ones", r.URL.RawQuery)
			}
			rw.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(rw, `{"servers":[{"id":"s1","name":"lab-vm","status":"ACTIVE"}]}`)
		},
		"POST /compute/v2.1/servers/s1/remote-consoles": func(rw http.ResponseWriter, r *http.Request) {
			if v := r.Header.Get("X-OpenStack-Nova-API-Version"); v != "2.6" {
				t.Errorf("remote-consoles asked at microversion %q, want 2.6", v)
			}
			rw.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(rw, `{"remote_console":{"protocol":"vnc","type":"novnc","url":"`+px.URL+`/vnc_auto.html?path=%3Ftoken%3Dsecret-token"}}`)
		},
	})
	return w
}

// fakeProxy serves noVNC's page and a websocket that runs greet.
func fakeProxy(greet func(ctx context.Context, c *websocket.Conn)) http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") == "" {
			_, _ = io.WriteString(rw, "<html>noVNC</html>")
			return
		}
		c, err := websocket.Accept(rw, r, &websocket.AcceptOptions{Subprotocols: []string{"binary"}})
		if err != nil {
			return
		}
		defer func() { _ = c.CloseNow() }()
		greet(r.Context(), c)
	})
}

func TestConsoleOpensToTheGuestsVNCServer(t *testing.T) {
	w := consoleWorld(t, fakeProxy(func(ctx context.Context, c *websocket.Conn) {
		_ = c.Write(ctx, websocket.MessageBinary, []byte("RFB 003.008\n"))
		_, _, _ = c.Read(ctx)
	}))
	rep := w.runAll(t)
	e, _ := rep.Get(IDConsole)
	if e.Status != checks.OK || !strings.Contains(e.Summary, "RFB 003.008") || !strings.Contains(e.Summary, "lab-vm") {
		t.Errorf("console = %s %q %v", e.Status, e.Summary, e.Evidence)
	}
	if strings.Contains(strings.Join(e.Evidence, " "), "secret-token") {
		t.Errorf("the console token is in the evidence: %v", e.Evidence)
	}
}

// A proxy that cannot reach the guest's VNC server closes the websocket:
// the report says so, and points at the [vnc] addresses.
func TestConsoleWithoutVNCServerNamesTheVNCAddresses(t *testing.T) {
	w := consoleWorld(t, fakeProxy(func(ctx context.Context, c *websocket.Conn) {
		_ = c.Close(websocket.StatusInternalError, "Connection refused")
	}))
	rep, err := checks.Run(context.Background(), Checks(w.cfg, w.deps), checks.Options{})
	if err != nil {
		t.Fatal(err)
	}
	e, _ := rep.Get(IDConsole)
	if e.Status != checks.Fail || !strings.Contains(e.Fix, "server_proxyclient_address") ||
		!strings.Contains(strings.Join(e.Evidence, " "), "Connection refused") {
		t.Errorf("console = %s %q fix %q %v", e.Status, e.Summary, e.Fix, e.Evidence)
	}
	if strings.Contains(strings.Join(append(e.Evidence, e.Summary), " "), "secret-token") {
		t.Errorf("the console token is in the report: %v", e.Evidence)
	}
	if roots := rep.RootCauses(); len(roots) != 1 || roots[0] != IDConsole {
		t.Errorf("root causes %v, want only the console", roots)
	}
}

// No instance: the proxy's page is still asked for, and its absence named.
func TestConsolePageWithoutAnInstance(t *testing.T) {
	w, _, _ := apiWorld(t)
	dead := httptest.NewServer(http.NotFoundHandler())
	w.cfg.ConsoleURL = dead.URL + "/vnc_auto.html"
	dead.Close()
	dr := &doctor{cfg: w.cfg, d: w.deps}
	r := dr.checkConsole(context.Background())
	if r.Status != checks.Fail || !strings.Contains(r.Fix, "novncproxy_host") {
		t.Errorf("console with its proxy down = %s %q fix %q", r.Status, r.Summary, r.Fix)
	}
}

// With nova-compute down no console is asked for: the request would hold
// nova-api's one worker until its RPC to nova-compute times out, and the
// dashboard's pages would wait behind it (seen on Debian 13).
func TestNoConsoleAskedWhileComputeIsDown(t *testing.T) {
	asked := 0
	w, _, _ := apiWorldWith(t, map[string]http.HandlerFunc{
		"GET /compute/v2.1/os-services": func(rw http.ResponseWriter, r *http.Request) {
			rw.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(rw, `{"services":[{"id":1,"binary":"nova-compute","host":"lab","status":"enabled","state":"down"}]}`)
		},
		"GET /compute/v2.1/servers/detail": func(rw http.ResponseWriter, r *http.Request) {
			rw.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(rw, `{"servers":[{"id":"s1","name":"lab-vm","status":"ACTIVE"}]}`)
		},
		"POST /compute/v2.1/servers/s1/remote-consoles": func(rw http.ResponseWriter, r *http.Request) {
			asked++
			rw.WriteHeader(http.StatusInternalServerError)
		},
	})
	rep, err := checks.Run(context.Background(), Checks(w.cfg, w.deps), checks.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if e, _ := rep.Get(IDComputeServices); e.Status != checks.Fail {
		t.Fatalf("compute-services = %s, want it failed by the down nova-compute", e.Status)
	}
	if e, _ := rep.Get(IDConsole); e.Status != checks.Skip || asked != 0 {
		t.Errorf("console = %s %q with %d console requests; want it skipped behind compute-services, none asked", e.Status, e.Summary, asked)
	}
}
