// Package nettest serves raw TCP to tests whose server must misbehave below
// HTTP, where httptest cannot: accept and never answer (the hung uwsgi
// worker), drop a reused connection, or speak another wire protocol.
package nettest

import (
	"io"
	"net"
	"testing"
)

// Serve listens on a loopback port until the test ends and runs handle for
// each connection in its own goroutine, closing the connection when handle
// returns. It returns the listener's host:port.
func Serve(t testing.TB, handle func(net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("nettest: listen: %v", err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return // the listener closed with the test
			}
			go func() {
				defer func() { _ = c.Close() }()
				handle(c)
			}()
		}
	}()
	return ln.Addr().String()
}

// Silent accepts what the peer sends and never answers, until the peer
// hangs up: a service whose workers are stuck while its socket still
// accepts connections.
func Silent(c net.Conn) { _, _ = io.Copy(io.Discard, c) }
