package main

import (
	"strings"
	"testing"
)

func TestLaptopConsole(t *testing.T) {
	got := strings.Join(laptopConsole("http://10.0.2.15:6080/vnc_auto.html?path=%3Ftoken%3Dabc"), "\n")
	for _, w := range []string{`natpf1 "novnc,tcp,,6080,,6080"`, "http://localhost:6080/vnc_auto.html?path=%3Ftoken%3Dabc"} {
		if !strings.Contains(got, w) {
			t.Errorf("laptop note lacks %q:\n%s", w, got)
		}
	}
	// The laptop reaches a host-only or bridged address as it is.
	if got := laptopConsole("http://192.168.56.10:6080/vnc_auto.html?path=%3Ftoken%3Dabc"); got != nil {
		t.Errorf("note for a reachable address: %v", got)
	}
}

func TestConsoleTakesOneServer(t *testing.T) {
	for _, args := range [][]string{{"console"}, {"console", "a", "b"}} {
		r := runWith(t, testEnv(t), args...)
		if r.code != exitUsage || !strings.Contains(r.stderr, "stacklab console lab-vm") {
			t.Errorf("%v: exit %d, stderr %q", args, r.code, r.stderr)
		}
	}
}
