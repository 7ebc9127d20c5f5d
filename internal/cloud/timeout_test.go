package cloud

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"syscall"
	"testing"
	"time"
)

func TestTimedOut(t *testing.T) {
	hung := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { <-r.Context().Done() }))
	defer hung.Close()
	hungErr := get(&http.Client{Timeout: 50 * time.Millisecond}, hung.URL)

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	refusedErr := get(http.DefaultClient, "http://"+addr+"/")

	for _, c := range []struct {
		name string
		err  error
		want bool
	}{
		{"a real request to a server that never answers", hungErr, true},
		{"a real request to a closed port", refusedErr, false},
		{"a context deadline, wrapped", fmt.Errorf("probe: %w", context.DeadlineExceeded), true},
		{"a reset", fmt.Errorf("read: %w", syscall.ECONNRESET), false},
		{"a plain error", errors.New("HTTP 503"), false},
		{"nil", nil, false},
	} {
		if got := TimedOut(c.err); got != c.want {
			t.Errorf("%s (%v): TimedOut = %v, want %v", c.name, c.err, got, c.want)
		}
	}
}

// get is the error of a GET, the body closed if there was one.
func get(c *http.Client, u string) error {
	resp, err := c.Get(u)
	if err == nil {
		resp.Body.Close()
	}
	return err
}
