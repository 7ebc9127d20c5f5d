// Package novnc proves a console URL the way the laptop's browser uses it:
// the noVNC page answers, and the websocket it opens through nova's console
// proxy reaches the guest's VNC server, whose first words are the RFB
// greeting ("RFB 003.008\n"). A page that answers while the websocket does
// not is the usual "the console is black" report, so both are tried.
package novnc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/coder/websocket"
	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/remoteconsoles"
)

// greetingLen is the RFB ProtocolVersion message's length: "RFB xxx.yyy\n".
const greetingLen = 12

// Result is what a probe saw, as evidence lines can quote it.
type Result struct {
	// Page is the noVNC page's answer, e.g. "HTTP 200 in 12ms".
	Page string
	// Websocket is the websocket URL the page opens (token redacted).
	Websocket string
	// Greeting is the VNC server's protocol version, e.g. "RFB 003.008".
	Greeting string
	Elapsed  time.Duration
}

// Stage names where a probe stopped, so that a caller can give the fix
// that belongs to it.
type Stage string

const (
	// StagePage: the noVNC page did not answer 200 (proxy down, wrong
	// address or port, no noVNC files).
	StagePage Stage = "page"
	// StageWebsocket: the proxy refused the websocket upgrade.
	StageWebsocket Stage = "websocket"
	// StageGreeting: the websocket opened but no RFB greeting came: the
	// token was refused or the proxy could not reach the guest's VNC
	// server.
	StageGreeting Stage = "greeting"
)

// Error is a probe that stopped at Stage.
type Error struct {
	Stage Stage
	Err   error
}

func (e *Error) Error() string {
	switch e.Stage {
	case StagePage:
		return "the noVNC page: " + e.Err.Error()
	case StageWebsocket:
		return "the console proxy's websocket: " + e.Err.Error()
	}
	return "no VNC greeting through the proxy: " + e.Err.Error()
}

func (e *Error) Unwrap() error { return e.Err }

// WebsocketURL is where noVNC's page opens its websocket for a console URL
// nova returned. noVNC reads the websocket's path from the page's "path"
// parameter (nova ≥ Rocky: path=%3Ftoken%3D…, the proxy's root); an older
// URL carries token=… and noVNC's default path, "websockify".
func WebsocketURL(consoleURL string) (string, error) {
	u, err := url.Parse(consoleURL)
	if err != nil {
		return "", fmt.Errorf("console URL: %w", err)
	}
	switch u.Scheme {
	case "http":
		u.Scheme = "ws"
	case "https":
		u.Scheme = "wss"
	default:
		return "", fmt.Errorf("console URL %s: not http or https", Redact(consoleURL, consoleURL))
	}
	q := u.Query()
	path, token := q.Get("path"), q.Get("token")
	u.RawQuery, u.Fragment = "", ""
	switch {
	case path != "":
		p, err := url.Parse("/" + strings.TrimPrefix(path, "/"))
		if err != nil {
			return "", fmt.Errorf("console URL's path parameter: %w", err)
		}
		u.Path, u.RawQuery = p.Path, p.RawQuery
	case token != "":
		u.Path, u.RawQuery = "/websockify", url.Values{"token": {token}}.Encode()
	default:
		return "", fmt.Errorf("console URL %s carries no token", consoleURL)
	}
	return u.String(), nil
}

// Redact hides a console token: whoever holds it sees the guest's screen
// until it expires.
func Redact(text, consoleURL string) string {
	t := token(consoleURL)
	if t == "" {
		return text
	}
	return strings.NewReplacer(url.QueryEscape(t), "…", t, "…").Replace(text)
}

// token is the console token in a URL nova returned, in either form, or
// in a websocket URL.
func token(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	q := u.Query()
	if t := q.Get("token"); t != "" {
		return t
	}
	if p, err := url.Parse(q.Get("path")); err == nil {
		return p.Query().Get("token")
	}
	return ""
}

// Probe opens consoleURL's page with hc and then its websocket, and reads
// the VNC server's greeting through the proxy. ctx bounds the whole probe.
func Probe(ctx context.Context, consoleURL string, hc *http.Client) (Result, error) {
	start := time.Now()
	var r Result
	ws, err := WebsocketURL(consoleURL)
	if err != nil {
		return r, &Error{Stage: StagePage, Err: err}
	}
	r.Websocket = Redact(ws, consoleURL)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, consoleURL, nil)
	if err != nil {
		return r, &Error{Stage: StagePage, Err: err}
	}
	resp, err := hc.Do(req)
	if err != nil {
		return r, &Error{Stage: StagePage, Err: redactErr(err, consoleURL)}
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	_ = resp.Body.Close()
	r.Page = fmt.Sprintf("HTTP %d in %s", resp.StatusCode, time.Since(start).Round(time.Millisecond))
	if resp.StatusCode != http.StatusOK {
		return r, &Error{Stage: StagePage, Err: fmt.Errorf("GET %s answered HTTP %d", Redact(consoleURL, consoleURL), resp.StatusCode)}
	}
	// noVNC asks for the binary subprotocol; websockify answers it. No
	// Origin header is sent: nova checks one only when a browser sends it.
	// Dial owns the handshake response's body ("you never need to close
	// resp.Body yourself").
	c, hresp, err := websocket.Dial(ctx, ws, &websocket.DialOptions{HTTPClient: hc, Subprotocols: []string{"binary"}}) //nolint:bodyclose // see above
	if err != nil {
		if hresp != nil {
			err = fmt.Errorf("HTTP %d: %w", hresp.StatusCode, err)
		}
		return r, &Error{Stage: StageWebsocket, Err: redactErr(err, consoleURL)}
	}
	defer func() { _ = c.CloseNow() }()
	g, err := ReadGreeting(websocket.NetConn(ctx, c, websocket.MessageBinary))
	if err != nil {
		if cs := websocket.CloseStatus(err); cs != -1 {
			err = fmt.Errorf("the proxy closed the websocket (%d %s)", cs, closeReason(err))
		}
		return r, &Error{Stage: StageGreeting, Err: redactErr(err, consoleURL)}
	}
	r.Greeting = g
	r.Elapsed = time.Since(start)
	_ = c.Close(websocket.StatusNormalClosure, "")
	return r, nil
}

// ReadGreeting reads a VNC server's first message, its protocol version
// ("RFB 003.008\n"), from r, whatever carries it: the proxy's websocket,
// or the server's own TCP port.
func ReadGreeting(r io.Reader) (string, error) {
	b := make([]byte, greetingLen)
	if _, err := io.ReadFull(r, b); err != nil {
		return "", fmt.Errorf("read the VNC greeting: %w", err)
	}
	if !strings.HasPrefix(string(b), "RFB ") || b[greetingLen-1] != '\n' {
		return "", fmt.Errorf("the first bytes are %q, not an RFB greeting", b)
	}
	return strings.TrimSuffix(string(b), "\n"), nil
}

func closeReason(err error) string {
	var ce websocket.CloseError
	if errors.As(err, &ce) && ce.Reason != "" {
		return ce.Reason
	}
	return "no reason given"
}

// redactErr keeps the token out of an error that quotes the URL.
func redactErr(err error, consoleURL string) error {
	if red := Redact(err.Error(), consoleURL); red != err.Error() {
		return errors.New(red)
	}
	return err
}

// computeMicroversion is the first that has remote-consoles (the API that
// replaced os-getVNCConsole).
const computeMicroversion = "2.6"

// Create asks nova for a noVNC console of the server: its URL, built on
// nova's novncproxy_base_url, carries a token that expires (10 minutes by
// default), so the URL is meant to be opened, not kept.
func Create(ctx context.Context, compute *gophercloud.ServiceClient, serverID string) (string, error) {
	sc := *compute
	sc.Microversion = computeMicroversion
	c, err := remoteconsoles.Create(ctx, &sc, serverID, remoteconsoles.CreateOpts{
		Protocol: remoteconsoles.ConsoleProtocolVNC, Type: remoteconsoles.ConsoleTypeNoVNC,
	}).Extract()
	if err != nil {
		return "", fmt.Errorf("nova: console of server %s: %w", serverID, err)
	}
	return c.URL, nil
}
