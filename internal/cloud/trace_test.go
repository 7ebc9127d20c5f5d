package cloud

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestTraceTransport: one line per request with method, URL without its
// query, status and duration; never the token it carried.
func TestTraceTransport(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusTeapot)
	}))
	defer srv.Close()
	var out bytes.Buffer
	c := http.Client{Transport: &traceTransport{next: http.DefaultTransport, w: &out}}
	req, err := http.NewRequest(http.MethodGet, srv.URL+"/v2.0/networks?name=secret-query", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Auth-Token", "gAAAAtoken")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	line := out.String()
	if !strings.HasPrefix(line, "http: GET "+srv.URL+"/v2.0/networks → 418 I'm a teapot in ") || strings.Count(line, "\n") != 1 {
		t.Errorf("trace line %q", line)
	}
	if strings.Contains(line, "gAAAAtoken") || strings.Contains(line, "secret-query") {
		t.Errorf("trace line %q leaks the token or the query", line)
	}
	t.Setenv("STACKLAB_DEBUG_HTTP", "1")
	if _, ok := httpClient(nil, nil).Transport.(*traceTransport); !ok {
		t.Error("STACKLAB_DEBUG_HTTP=1 did not turn the trace on")
	}
	if _, ok := TraceRequests(http.DefaultTransport).(*traceTransport); !ok {
		t.Error("STACKLAB_DEBUG_HTTP=1 did not trace doctor's probes")
	}
	t.Setenv("STACKLAB_DEBUG_HTTP", "")
	if TraceRequests(http.DefaultTransport) != http.DefaultTransport {
		t.Error("without STACKLAB_DEBUG_HTTP the probes' transport was wrapped")
	}
}
