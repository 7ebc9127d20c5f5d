package main

import (
	"bytes"
	"strings"
	"testing"
)

// apt reports its progress many times a second, mostly unchanged: the
// install log takes each line once, and a change (or a new phase) again.
func TestInstallLogWritesEachProgressLineOnce(t *testing.T) {
	var out, log bytes.Buffer
	r := newInstallReporter(&out, false, false, true, false)
	r.log, r.redact = &log, func(s string) string { return s }
	r.PhaseStarted("packages", "")
	for _, n := range []string{"install 0/9", "install 0/9", "install 0/9", "install 1/9", "install 1/9", "install 0/9"} {
		r.note("packages", n)
	}
	r.note("infra", "install 0/9")
	var got []string
	for _, line := range strings.Split(strings.TrimSpace(log.String()), "\n") {
		_, msg, _ := strings.Cut(line, " ")
		got = append(got, msg)
	}
	want := []string{"packages: started", "packages: install 0/9", "packages: install 1/9", "packages: install 0/9", "infra: install 0/9"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("install log\n got %q\nwant %q", got, want)
	}
}
