package systemd

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"
)

func TestNormalize(t *testing.T) {
	tests := []struct {
		in, want string
		wantErr  bool
	}{
		{"keystone", "keystone.service", false},
		{"nova-api.service", "nova-api.service", false},
		{"dbus.socket", "dbus.socket", false},
		{"multi-user.target", "multi-user.target", false},
		{"getty@tty1", "getty@tty1.service", false},
		{"python3.11-thing", "python3.11-thing.service", false},
		{"", "", true},
		{"-.slice", "-.slice", false},
		{"-.mount", "-.mount", false},
		{"../etc/passwd", "", true},
	}
	for _, tt := range tests {
		got, err := normalize(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("normalize(%q) = %q, %v; want %q, err=%v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestTypeInterface(t *testing.T) {
	tests := map[string]string{
		"a.service": "Service", "a.socket": "Socket", "a.timer": "Timer",
		"a.target": "", "a.slice": "", "a.device": "", "a": "",
	}
	for unit, want := range tests {
		if got := typeInterface(unit); got != want {
			t.Errorf("typeInterface(%q) = %q, want %q", unit, got, want)
		}
	}
}

func TestStateFromProps(t *testing.T) {
	at := func(sec int64) uint64 { return uint64(sec * 1e6) }
	ts := map[string]any{
		"ActiveEnterTimestamp":   at(100),
		"InactiveExitTimestamp":  at(90),
		"ActiveExitTimestamp":    at(200),
		"InactiveEnterTimestamp": at(210),
	}
	with := func(active, sub string) map[string]any {
		m := map[string]any{"Id": "x.service", "LoadState": "loaded", "ActiveState": active, "SubState": sub}
		for k, v := range ts {
			m[k] = v
		}
		return m
	}
	tests := []struct {
		name  string
		unit  map[string]any
		typed map[string]any
		want  UnitState
	}{
		{"running", with("active", "running"), map[string]any{"MainPID": uint32(42), "Result": "success"},
			UnitState{"x.service", "loaded", "active", "running", time.Unix(100, 0), 42, "success", ""}},
		{"enablement", func() map[string]any { m := with("active", "running"); m["UnitFileState"] = "disabled"; return m }(), nil,
			UnitState{"x.service", "loaded", "active", "running", time.Unix(100, 0), 0, "", "disabled"}},
		{"reloading counts from activation", with("reloading", "reload"), nil,
			UnitState{"x.service", "loaded", "reloading", "reload", time.Unix(100, 0), 0, "", ""}},
		{"activating", with("activating", "start"), nil,
			UnitState{"x.service", "loaded", "activating", "start", time.Unix(90, 0), 0, "", ""}},
		{"deactivating", with("deactivating", "stop-sigterm"), nil,
			UnitState{"x.service", "loaded", "deactivating", "stop-sigterm", time.Unix(200, 0), 0, "", ""}},
		{"failed", with("failed", "failed"), map[string]any{"MainPID": uint32(0), "Result": "exit-code"},
			UnitState{"x.service", "loaded", "failed", "failed", time.Unix(210, 0), 0, "exit-code", ""}},
		{"never ran", map[string]any{"Id": "y.service", "LoadState": "not-found", "ActiveState": "inactive", "SubState": "dead", "InactiveEnterTimestamp": uint64(0)}, nil,
			UnitState{Name: "y.service", LoadState: "not-found", ActiveState: "inactive", SubState: "dead"}},
		{"name falls back to the query", map[string]any{}, nil, UnitState{Name: "q.service"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := stateFromProps("q.service", tt.unit, tt.typed)
			if !got.Since.Equal(tt.want.Since) {
				t.Errorf("since = %v, want %v", got.Since, tt.want.Since)
			}
			got.Since, tt.want.Since = time.Time{}, time.Time{}
			if got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestUnitStatePredicates(t *testing.T) {
	tests := []struct {
		s                     UnitState
		active, failed, found bool
	}{
		{UnitState{LoadState: "loaded", ActiveState: "active"}, true, false, true},
		{UnitState{LoadState: "loaded", ActiveState: "reloading"}, true, false, true},
		{UnitState{LoadState: "loaded", ActiveState: "activating"}, false, false, true},
		{UnitState{LoadState: "loaded", ActiveState: "failed"}, false, true, true},
		{UnitState{LoadState: "masked", ActiveState: "inactive"}, false, false, true},
		{UnitState{LoadState: "not-found", ActiveState: "inactive"}, false, false, false},
	}
	for _, tt := range tests {
		if tt.s.Active() != tt.active || tt.s.Failed() != tt.failed || tt.s.Found() != tt.found {
			t.Errorf("%v: active=%v failed=%v found=%v, want %v %v %v",
				tt.s, tt.s.Active(), tt.s.Failed(), tt.s.Found(), tt.active, tt.failed, tt.found)
		}
	}
	for _, tt := range []struct {
		file string
		boot bool
	}{
		{"enabled", true}, {"enabled-runtime", true}, {"static", true}, {"generated", true}, {"alias", true},
		{"disabled", false}, {"indirect", false}, {"masked", false}, {"masked-runtime", false}, {"", false}, {"bad", false},
	} {
		if got := (UnitState{UnitFileState: tt.file}).StartsAtBoot(); got != tt.boot {
			t.Errorf("UnitFileState %q: StartsAtBoot() = %v, want %v", tt.file, got, tt.boot)
		}
	}
	// Started dates the running process alone: a stopped or starting
	// unit's Since is its stop or its start attempt.
	at := time.Unix(1700000000, 0)
	for state, want := range map[string]time.Time{"active": at, "reloading": at, "activating": {}, "failed": {}, "inactive": {}} {
		if got := (UnitState{ActiveState: state, Since: at}).Started(); !got.Equal(want) {
			t.Errorf("%s: Started() = %v, want %v", state, got, want)
		}
	}
	s := UnitState{Name: "a.service", LoadState: "loaded", ActiveState: "failed", SubState: "failed", Result: "exit-code", Since: time.Unix(0, 0).UTC()}
	if got, want := s.String(), "a.service loaded/failed/failed result=exit-code since 1970-01-01T00:00:00Z"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}

func TestJobErrorFormat(t *testing.T) {
	tests := []struct {
		name string
		err  *JobError
		want string
	}{
		{"with journal", &JobError{Op: "start", Unit: "nova-api.service", Result: "failed", UnitResult: "exit-code", Journal: []string{"Traceback", "ValueError: x"}},
			"systemd: start nova-api.service: job failed (unit result: exit-code); last journal lines:\n    Traceback\n    ValueError: x"},
		{"dependency", &JobError{Op: "start", Unit: "a.service", Result: "dependency", UnitResult: "success"},
			"systemd: start a.service: job dependency"},
		{"journal unreadable", &JobError{Op: "restart", Unit: "a.service", Result: "timeout", UnitResult: "timeout", JournalErr: errors.New("no journalctl")},
			"systemd: restart a.service: job timeout (unit result: timeout) (journal unavailable: no journalctl)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.err.Error(); got != tt.want {
				t.Errorf("got %q\nwant %q", got, tt.want)
			}
			wrapped := fmt.Errorf("installer: tier nova: %w", tt.err)
			if !errors.Is(wrapped, ErrJobFailed) {
				t.Error("errors.Is(ErrJobFailed) = false")
			}
			var je *JobError
			if !errors.As(wrapped, &je) || je != tt.err {
				t.Error("errors.As(*JobError) failed")
			}
		})
	}
}

func TestWantsJournal(t *testing.T) {
	tests := []struct {
		op, result string
		want       bool
	}{
		{"start", "failed", true}, {"restart", "timeout", true}, {"try-restart", "failed", true},
		{"start", "dependency", false}, {"start", "canceled", false}, {"stop", "failed", false},
	}
	for _, tt := range tests {
		if got := wantsJournal(tt.op, tt.result); got != tt.want {
			t.Errorf("wantsJournal(%s, %s) = %v", tt.op, tt.result, got)
		}
	}
}

func TestClassify(t *testing.T) {
	masked := dbus.Error{Name: "org.freedesktop.systemd1.UnitMasked", Body: []any{"Unit x.service is masked."}}
	tests := []struct {
		name string
		err  error
		is   error
	}{
		{"masked value", masked, ErrUnitMasked},
		{"masked pointer", &masked, ErrUnitMasked},
		{"no such unit", dbus.Error{Name: "org.freedesktop.systemd1.NoSuchUnit"}, ErrNoSuchUnit},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := fmt.Errorf("systemd: start x: %w", classify(tt.err))
			if !errors.Is(got, tt.is) {
				t.Errorf("errors.Is(%v, %v) = false", got, tt.is)
			}
			var de dbus.Error
			var pde *dbus.Error
			if !errors.As(got, &de) && !errors.As(got, &pde) {
				t.Error("D-Bus error no longer reachable")
			}
		})
	}
	other := dbus.Error{Name: "org.freedesktop.DBus.Error.AccessDenied"}
	if got := classify(other); errors.Is(got, ErrUnitMasked) || errors.Is(got, ErrNoSuchUnit) {
		t.Errorf("classify(AccessDenied) matched a sentinel")
	}
	plain := errors.New("boom")
	if !errors.Is(classify(plain), plain) {
		t.Error("non-D-Bus error changed")
	}
	if got := classify(masked).Error(); got != masked.Error() {
		t.Errorf("message changed: %q", got)
	}
}

func TestJournalTailRunner(t *testing.T) {
	tests := []struct {
		name    string
		out     string
		err     error
		want    []string
		wantErr bool
	}{
		{"lines", "a\nb\n", nil, []string{"a", "b"}, false},
		{"no trailing newline", "a", nil, []string{"a"}, false},
		{"empty", "", nil, nil, false},
		{"keeps blank inner lines", "a\n\nb\n", nil, []string{"a", "", "b"}, false},
		{"runner fails", "", errors.New("exit status 1"), nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var gotName string
			var gotArgs []string
			c := &Client{run: func(_ context.Context, name string, args ...string) ([]byte, error) {
				gotName, gotArgs = name, args
				return []byte(tt.out), tt.err
			}}
			lines, err := c.JournalTail(context.Background(), "nova-api", 5)
			if (err != nil) != tt.wantErr || !slices.Equal(lines, tt.want) {
				t.Fatalf("got %q, %v; want %q, err=%v", lines, err, tt.want, tt.wantErr)
			}
			if tt.wantErr && !strings.Contains(err.Error(), "nova-api.service") {
				t.Errorf("error %q does not name the unit", err)
			}
			wantArgs := []string{"--unit=nova-api.service", "-n", "5", "--no-pager", "-o", "cat", "-q"}
			if gotName != "journalctl" || !slices.Equal(gotArgs, wantArgs) {
				t.Errorf("ran %s %q, want journalctl %q", gotName, gotArgs, wantArgs)
			}
		})
	}
	c := &Client{run: func(context.Context, string, ...string) ([]byte, error) {
		t.Error("runner called")
		return nil, nil
	}}
	if _, err := c.JournalTail(context.Background(), "a/b", 5); err == nil {
		t.Error("JournalTail accepted a unit name with a slash")
	}
	if lines, err := c.JournalTail(context.Background(), "a", 0); err != nil || lines != nil {
		t.Errorf("n=0: %q, %v", lines, err)
	}
}

func TestEscapeAddress(t *testing.T) {
	tests := map[string]string{
		"/proc/12/root/run/systemd/private": "/proc/12/root/run/systemd/private",
		"/tmp/a b,c=d;e":                    "/tmp/a%20b%2cc%3dd%3be",
	}
	for in, want := range tests {
		if got := escapeAddress(in); got != want {
			t.Errorf("escapeAddress(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestParseTimestamp(t *testing.T) {
	got, err := parseTimestamp("@t 1733300000000000")
	if err != nil || !got.Equal(time.UnixMicro(1733300000000000)) {
		t.Errorf("parseTimestamp = %v, %v", got, err)
	}
	for _, bad := range []string{"", "@t 0", "@s \"x\"", "12x"} {
		if _, err := parseTimestamp(bad); err == nil {
			t.Errorf("parseTimestamp(%q): no error", bad)
		}
	}
}
