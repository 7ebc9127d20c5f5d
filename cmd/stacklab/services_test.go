package main

import (
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/stacklab/stacklab/internal/systemd"
	"github.com/stacklab/stacklab/internal/systemd/systemdtest"
)

func TestPickUnits(t *testing.T) {
	all := []string{"mariadb", "rabbitmq-server", "memcached", "keystone", "apache2"}
	tests := []struct {
		asked   []string
		want    []string
		wantErr string
	}{
		{nil, all, ""},
		{[]string{"apache2.service", "mariadb"}, []string{"mariadb", "apache2"}, ""},
		{[]string{"nginx"}, nil, "nginx is not a lab service"},
	}
	for _, tt := range tests {
		got, err := pickUnits(all, tt.asked)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%v: err %v, want %q", tt.asked, err, tt.wantErr)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%v: got %v %v, want %v", tt.asked, got, err, tt.want)
		}
	}
}

// TestServicesAgainstRealSystemd drives `stacklab services` against a real
// systemd holding stand-ins for two lab units.
func TestServicesAgainstRealSystemd(t *testing.T) {
	inst := systemdtest.Boot(t)
	for _, u := range []string{"memcached.service", "apache2.service"} {
		inst.WriteUnit(u, "[Service]\nExecStart=/bin/sleep infinity\n")
	}
	e := testEnv(t)
	e.units = func(context.Context) (unitController, error) { return inst.Client(), nil }

	r := runWith(t, e, "services", "start", "apache2", "memcached")
	if r.code != exitOK {
		t.Fatalf("start: exit %d: %s %s", r.code, r.stdout, r.stderr)
	}
	// Started in the lab's order, not the order asked.
	if i, j := strings.Index(r.stdout, "start memcached"), strings.Index(r.stdout, "start apache2"); i < 0 || j < i {
		t.Errorf("start order:\n%s", r.stdout)
	}

	r = runWith(t, e, "-o", "json", "services")
	if r.code != exitFailed {
		t.Errorf("list with most lab units absent: exit %d, want 1", r.code)
	}
	var states []systemd.UnitState
	if err := json.Unmarshal([]byte(r.stdout), &states); err != nil {
		t.Fatalf("json: %v\n%s", err, r.stdout)
	}
	active := map[string]bool{}
	for _, s := range states {
		active[strings.TrimSuffix(s.Name, ".service")] = s.Active()
	}
	if !active["memcached"] || !active["apache2"] || active["keystone"] {
		t.Errorf("states: %v", active)
	}

	r = runWith(t, e, "services", "stop", "memcached")
	if r.code != exitOK {
		t.Fatalf("stop: exit %d: %s", r.code, r.stderr)
	}
	st, err := inst.Client().States(context.Background(), "memcached")
	if err != nil || st[0].Active() {
		t.Errorf("memcached after stop: %+v %v", st, err)
	}
	r = runWith(t, e, "services", "restart", "keystone")
	if r.code != exitFailed || !strings.Contains(r.stdout, "✗ restart keystone") {
		t.Errorf("restart of a missing unit: exit %d\n%s", r.code, r.stdout)
	}
}
