package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stacklab/stacklab/checks/host"
	"github.com/stacklab/stacklab/installer"
	"github.com/stacklab/stacklab/internal/fix"
	"github.com/stacklab/stacklab/netcfg"
	"github.com/stacklab/stacklab/netcfg/netcfgtest"
)

type result struct {
	code           int
	stdout, stderr string
}

func runWith(t *testing.T, e *env, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	e.stdout, e.stderr, e.stdin = &out, &errb, strings.NewReader("")
	app := newApp(e)
	err := app.Run(context.Background(), append([]string{"stacklab"}, args...))
	code := exitCode(context.Background(), err, &errb)
	return result{code, out.String(), errb.String()}
}

func TestUsageErrorsExit2(t *testing.T) {
	for _, args := range [][]string{
		{"--output", "yaml", "preflight"},
		{"preflight", "--no-such-flag"},
		{"preflight", "--skip", "no-such-check"},
	} {
		r := runWith(t, testEnv(t), args...)
		if r.code != exitUsage {
			t.Errorf("%v: exit %d, want %d (stderr %q)", args, r.code, exitUsage, r.stderr)
		}
		if r.stderr == "" {
			t.Errorf("%v: no message on stderr", args)
		}
	}
}

// labEnv points the real CLI code at a lab namespace: eth0 managed with the
// default route, eth1 as given by setup. Persistence writes under root.
func labEnv(t *testing.T, setup func(l *netcfgtest.Lab)) (*env, *netcfgtest.Lab, string) {
	lab := netcfgtest.New(t)
	lab.NIC("eth0")
	lab.Up("eth0")
	lab.Addr("eth0", "10.0.2.15/24")
	lab.DefaultRoute("eth0", "10.0.2.2")
	lab.NIC("eth1")
	setup(lab)
	root := t.TempDir()
	// An ifupdown host, like a Debian 12 VM from the netinst image.
	if err := os.MkdirAll(filepath.Join(root, "etc/network/interfaces.d"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "etc/network/interfaces"),
		[]byte("source /etc/network/interfaces.d/*\nauto lo\niface lo inet loopback\nallow-hotplug eth0\niface eth0 inet dhcp\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	e := testEnv(t)
	e.network = func() (netcfg.Host, error) { return netcfg.Host{NL: lab.NL, Root: root}, nil }
	return e, lab, root
}

type jsonReport struct {
	Checks []struct {
		ID, Status, Fix string
	}
}

func nicStatuses(t *testing.T, out string) map[string]string {
	t.Helper()
	var rep jsonReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("--output json does not parse: %v\n%s", err, out)
	}
	m := map[string]string{}
	for _, c := range rep.Checks {
		m[c.ID] = c.Status
	}
	return m
}

func TestPreflightAndNetApplyInLabNamespace(t *testing.T) {
	e, lab, root := labEnv(t, func(l *netcfgtest.Lab) {
		l.Addr("eth1", "192.168.56.10/24") // the classic trap: an address on the provider NIC
	})
	nicIDs := []string{"mgmt-nic", "ext-nic", "ext-nic-up", "ext-nic-unaddressed"}

	r := runWith(t, e, "-o", "json", "preflight")
	if r.code != exitFailed {
		t.Fatalf("preflight exit %d, want 1; stderr %s", r.code, r.stderr)
	}
	got := nicStatuses(t, r.stdout)
	want := map[string]string{"mgmt-nic": "ok", "ext-nic": "ok", "ext-nic-up": "fail", "ext-nic-unaddressed": "fail"}
	for _, id := range nicIDs {
		if got[id] != want[id] {
			t.Errorf("before: %s = %s, want %s", id, got[id], want[id])
		}
	}

	// Without --flush-external the address is kept: apply brings the link
	// up and persists, but does not claim success on the address.
	r = runWith(t, e, "net", "apply")
	if r.code != exitOK {
		t.Fatalf("net apply exit %d: %s %s", r.code, r.stdout, r.stderr)
	}
	r = runWith(t, e, "-o", "json", "net", "apply", "--flush-external")
	if r.code != exitOK {
		t.Fatalf("net apply --flush-external exit %d: %s %s", r.code, r.stdout, r.stderr)
	}
	var res struct{ Changed bool }
	if err := json.Unmarshal([]byte(r.stdout), &res); err != nil || !res.Changed {
		t.Fatalf("flush apply: changed=%v err=%v\n%s", res.Changed, err, r.stdout)
	}

	r = runWith(t, e, "-o", "json", "net", "apply", "--flush-external")
	if err := json.Unmarshal([]byte(r.stdout), &res); err != nil || res.Changed || r.code != exitOK {
		t.Fatalf("second apply must change nothing: code %d changed=%v err=%v", r.code, res.Changed, err)
	}

	// The kernel reached the state preflight asks for.
	lab.WaitOperUp("eth1")
	r = runWith(t, e, "-o", "json", "preflight")
	got = nicStatuses(t, r.stdout)
	for _, id := range nicIDs {
		if got[id] != "ok" {
			t.Errorf("after: %s = %s, want ok", id, got[id])
		}
	}
	if _, err := os.Stat(filepath.Join(root, "etc/network/interfaces.d/stacklab-external")); err != nil {
		t.Errorf("persistence file not written: %v", err)
	}
	// The management path is untouched.
	if l, err := lab.NL.LinkByName("eth0"); err != nil {
		t.Fatal(err)
	} else if addrs, _ := lab.NL.AddrList(l, 2 /* AF_INET */); len(addrs) != 1 {
		t.Errorf("eth0 addresses changed: %v", addrs)
	}
}

func TestPreflightRealHostIsFastAndParses(t *testing.T) {
	// The machine's own namespace, read-only: the report must render and
	// parse whatever this machine looks like.
	e := testEnv(t)
	e.readings = func() host.Readings { return host.NewSystem() }
	r := runWith(t, e, "-o", "json", "preflight")
	if r.code != exitOK && r.code != exitFailed {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	st := nicStatuses(t, r.stdout)
	for _, id := range []string{"cpu-count", "memory", "disk", "os", "mgmt-nic"} {
		if st[id] == "" {
			t.Errorf("check %s missing from the report", id)
		}
	}
}

// Any error that reaches the terminal has its URL passwords hidden,
// whichever package wrapped it.
func TestExitCodeRedactsURLPasswords(t *testing.T) {
	var errb bytes.Buffer
	err := &failure{code: exitFailed, err: errors.New(`open cloud: Get "http://admin:url-Pa55word@192.0.2.10:5000/v3": refused`)}
	if code := exitCode(context.Background(), err, &errb); code != exitFailed {
		t.Errorf("exit %d, want %d", code, exitFailed)
	}
	if strings.Contains(errb.String(), "url-Pa55word") || !strings.Contains(errb.String(), "http://admin:xxxxx@192.0.2.10:5000/v3") {
		t.Errorf("stderr %q: want the URL with its password hidden", errb.String())
	}
}

// Whatever package gave an error its remedy, the user reads it on a line of
// its own under the cause, once.
func TestExitCodePrintsTheFixOnce(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		code int
	}{
		{"usage-level error", fmt.Errorf("image install: %w", fix.Errorf("give the installer's .iso", "x.raw is raw")), exitUsage},
		{"failure", &failure{code: exitFailed, err: fix.Wrap(errors.New("doctor found: keystone"), "stacklab doctor --fix")}, exitFailed},
		{"renders its own", &failure{code: exitFailed, err: &installer.PhaseError{Phase: "keystone", Err: errors.New("down"), Fix: "restart it"}}, exitFailed},
	} {
		var errb bytes.Buffer
		if code := exitCode(context.Background(), tc.err, &errb); code != tc.code {
			t.Errorf("%s: exit %d, want %d", tc.name, code, tc.code)
		}
		if n := strings.Count(errb.String(), "\n  fix: "); n != 1 {
			t.Errorf("%s: stderr %q has %d fix lines, want 1", tc.name, errb.String(), n)
		}
	}
}
