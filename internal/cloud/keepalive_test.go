package cloud

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/stacklab/stacklab/internal/nettest"
)

// oneShotServer answers one request per connection and drops the connection
// when a second request arrives on it, without ever having sent
// "Connection: close": what Debian's uwsgi-run APIs did to a pooled
// connection (keystone's catalog creation failed on its 17th call).
func oneShotServer(t *testing.T) string {
	return "http://" + nettest.Serve(t, func(conn net.Conn) {
		br := bufio.NewReader(conn)
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		req.Body.Close()
		_, _ = conn.Write([]byte("HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\n{}"))
		// Take a reused connection's whole next request, then reset:
		// the client has written it, so it may not retry a POST.
		if next, err := http.ReadRequest(br); err == nil {
			_, _ = io.Copy(io.Discard, next.Body)
		}
		if tc, ok := conn.(*net.TCPConn); ok {
			_ = tc.SetLinger(0)
		}
	})
}

func TestDefaultClientSurvivesServersThatDropConnections(t *testing.T) {
	url := oneShotServer(t)
	c := httpClient(nil, nil)
	for i := range 20 {
		resp, err := c.Post(url+"/v3/services", "application/json", strings.NewReader(`{"service":{}}`))
		if err != nil {
			t.Fatalf("POST %d: %v", i+1, err)
		}
		// Read to the end, as gophercloud does: only then is a
		// connection put back in the pool for reuse.
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("POST %d: HTTP %d", i+1, resp.StatusCode)
		}
	}
}
