package nettest_test

import (
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"

	"github.com/stacklab/stacklab/internal/nettest"
)

// A Silent server takes the connection and the request, and the reader
// sees a timeout, never an answer or a close: what a doctor probe must
// report as "hung".
func TestSilentAcceptsAndNeverAnswers(t *testing.T) {
	addr := nettest.Serve(t, nettest.Silent)
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")); err != nil {
		t.Fatalf("write: %v", err)
	}
	_ = c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	n, err := c.Read(make([]byte, 1))
	if n != 0 || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read = %d, %v; want a timeout", n, err)
	}
}

// Serve closes each connection once its handler returns.
func TestServeClosesAfterHandler(t *testing.T) {
	addr := nettest.Serve(t, func(c net.Conn) { _, _ = c.Write([]byte("hi")) })
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer c.Close()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	// ReadAll ends at EOF only if the server closed; otherwise the
	// deadline fails it.
	b, err := io.ReadAll(c)
	if err != nil || string(b) != "hi" {
		t.Fatalf("read %q, %v; want hi, then EOF", b, err)
	}
}
