package novnc

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

func TestWebsocketURL(t *testing.T) {
	for _, tc := range []struct{ in, want, err string }{
		// nova ≥ Rocky: the token rides in noVNC's path parameter.
		{in: "http://10.0.0.2:6080/vnc_auto.html?path=%3Ftoken%3Dabc-123", want: "ws://10.0.0.2:6080/?token=abc-123"},
		{in: "https://h:6080/vnc_lite.html?path=websockify%3Ftoken%3Dx", want: "wss://h:6080/websockify?token=x"},
		// older nova: token=…, noVNC's default path
		{in: "http://10.0.0.2:6080/vnc_auto.html?token=abc", want: "ws://10.0.0.2:6080/websockify?token=abc"},
		{in: "http://10.0.0.2:6080/vnc_auto.html", err: "carries no token"},
		{in: "ftp://h/x?token=a", err: "not http or https"},
	} {
		got, err := WebsocketURL(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("WebsocketURL(%q) = %q, %v; want error %q", tc.in, got, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("WebsocketURL(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

func TestRedactHidesTheTokenInBothForms(t *testing.T) {
	for _, u := range []string{
		"http://h:6080/vnc_auto.html?path=%3Ftoken%3Dsecret-tok",
		"http://h:6080/vnc_auto.html?token=secret-tok",
		"ws://h:6080/?token=secret-tok",
	} {
		if got := Redact("GET "+u+" failed; token secret-tok", u); strings.Contains(got, "secret-tok") {
			t.Errorf("Redact kept the token: %s", got)
		}
	}
}

// proxy stands in for websockify: the page, then a websocket that either
// greets as a VNC server does or closes as nova's proxy does on a refused
// token.
func proxy(t *testing.T, page int, greet func(ctx context.Context, c *websocket.Conn)) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") == "" {
			w.WriteHeader(page)
			return
		}
		if r.URL.Query().Get("token") != "tok" {
			t.Errorf("websocket asked with %q, want the console's token", r.URL.RawQuery)
		}
		c, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: []string{"binary"}})
		if err != nil {
			t.Errorf("accept: %v", err)
			return
		}
		defer func() { _ = c.CloseNow() }()
		greet(r.Context(), c)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestProbeReadsTheGreetingThroughTheProxy(t *testing.T) {
	srv := proxy(t, http.StatusOK, func(ctx context.Context, c *websocket.Conn) {
		// Split across two frames, as a proxy relaying TCP reads may.
		_ = c.Write(ctx, websocket.MessageBinary, []byte("RFB 003"))
		_ = c.Write(ctx, websocket.MessageBinary, []byte(".008\n"))
		_, _, _ = c.Read(ctx)
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	r, err := Probe(ctx, srv.URL+"/vnc_auto.html?path=%3Ftoken%3Dtok", srv.Client())
	if err != nil {
		t.Fatalf("Probe: %v", err)
	}
	if r.Greeting != "RFB 003.008" || !strings.HasPrefix(r.Page, "HTTP 200") || strings.Contains(r.Websocket, "tok") {
		t.Errorf("result %+v", r)
	}
}

func TestProbeNamesTheStageThatFailed(t *testing.T) {
	for _, tc := range []struct {
		name   string
		page   int
		greet  func(ctx context.Context, c *websocket.Conn)
		stage  Stage
		detail string
	}{
		{name: "no noVNC page", page: http.StatusNotFound, stage: StagePage, detail: "HTTP 404"},
		{name: "token refused", page: http.StatusOK, stage: StageGreeting, detail: "Invalid Token",
			greet: func(ctx context.Context, c *websocket.Conn) {
				_ = c.Close(websocket.StatusPolicyViolation, "Invalid Token")
			}},
		{name: "not VNC", page: http.StatusOK, stage: StageGreeting, detail: "not an RFB greeting",
			greet: func(ctx context.Context, c *websocket.Conn) {
				_ = c.Write(ctx, websocket.MessageBinary, []byte("SSH-2.0-OpenSSH\n"))
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := proxy(t, tc.page, tc.greet)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_, err := Probe(ctx, srv.URL+"/vnc_auto.html?path=%3Ftoken%3Dtok", srv.Client())
			var pe *Error
			if !errors.As(err, &pe) || pe.Stage != tc.stage || !strings.Contains(err.Error(), tc.detail) {
				t.Fatalf("Probe error %v; want stage %s with %q", err, tc.stage, tc.detail)
			}
			if strings.Contains(err.Error(), "tok&") || strings.Contains(err.Error(), "token=tok") {
				t.Errorf("the token leaked: %v", err)
			}
		})
	}
}

func TestProbeRefusedConnection(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	u := srv.URL
	srv.Close()
	_, err := Probe(context.Background(), u+"/vnc_auto.html?token=tok", http.DefaultClient)
	var pe *Error
	if !errors.As(err, &pe) || pe.Stage != StagePage {
		t.Fatalf("Probe on a closed port: %v; want the page stage", err)
	}
}
