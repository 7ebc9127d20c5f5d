package doctor

import (
	"errors"
	"strings"
	"testing"

	"github.com/stacklab/stacklab/checks"
)

func TestMariaDBConnVerdict(t *testing.T) {
	answer := func(limit, used, peak string) string {
		return "max_connections\t" + limit + "\nMax_used_connections\t" + peak + "\nThreads_connected\t" + used + "\nuser nova\t90\nuser keystone\t10\n"
	}
	for _, tt := range []struct {
		name    string
		out     string
		err     error
		status  checks.Status
		summary string
	}{
		{"plenty", answer("4096", "40", "80"), nil, checks.OK, "40 of 4096 connections in use"},
		{"at the limit", answer("151", "151", "151"), nil, checks.Fail, "MariaDB is at its connection limit (151 of 151): the services get 'Too many connections'"},
		{"refused even root", "ERROR 1040 (HY000): Too many connections\n", errors.New("exit status 1"), checks.Fail, "Too many connections (ERROR 1040)"},
		{"hit it earlier", answer("151", "20", "151"), nil, checks.Warn, "reached its connection limit (151) since it started"},
		{"near it", answer("100", "95", "95"), nil, checks.Warn, "near its connection limit (95 of 100)"},
		{"not answering", "ERROR 2002 (HY000): Can't connect to local server through socket", errors.New("exit status 1"), checks.Skip, "cannot read"},
		{"odd answer", "1\n", nil, checks.Skip, "did not report max_connections"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := MariaDBConnVerdict(tt.out, tt.err)
			if r.Status != tt.status || !strings.Contains(r.Summary, tt.summary) {
				t.Errorf("%s %q %q", r.Status, r.Summary, r.Evidence)
			}
			if r.Status == checks.Fail && !strings.Contains(r.Fix, "max_connections") {
				t.Errorf("fix %q", r.Fix)
			}
		})
	}
	if r := MariaDBConnVerdict(answer("151", "151", "151"), nil); !strings.Contains(strings.Join(r.Evidence, "\n"), "by user: nova 90, keystone 10") {
		t.Errorf("evidence %q", r.Evidence)
	}
}

// At the limit, root's query is still answered (its reserved connection)
// and keystone fails: the limit is the root cause, keystone is skipped.
func TestMariaDBConnectionsRootCause(t *testing.T) {
	w := newWorld(t)
	h := w.deps.Host.(fakeHost)
	h.run = func(name string, args ...string) ([]byte, error) {
		if name == "mysql" && strings.Contains(strings.Join(args, " "), "max_connections") {
			return []byte("max_connections\t151\nThreads_connected\t151\nMax_used_connections\t151\n"), nil
		}
		return []byte("Syntax OK\n"), nil
	}
	w.deps.Host = h
	rep := w.run(t)
	if roots := rep.RootCauses(); len(roots) != 1 || roots[0] != IDMariaDBConnections {
		t.Fatalf("roots %v", roots)
	}
	for _, id := range []string{IDMariaDB, IDKeystone, IDDashboardLogin} {
		if s, rc := status(rep, id); s != checks.Skip || len(rc) != 1 || rc[0] != IDMariaDBConnections {
			t.Errorf("%s: %s %v, want skipped naming %s", id, s, rc, IDMariaDBConnections)
		}
	}
}
