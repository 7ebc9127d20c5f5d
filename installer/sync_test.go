package installer

// Sync commands that an interrupted install left behind: running, or
// half-way through a first schema.

import (
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// A first sync killed half-way left tables MariaDB cannot roll back, and
// the resumed install failed on them for good (CI23). The databases
// stacklab made whose first sync never finished are made again, and the
// sync run once more; any other failed sync stays a failure.
func TestInterruptedFirstSyncRunsAgainOnAFreshDatabase(t *testing.T) {
	p := labParams()
	const sync = "keystone-manage db_sync"
	t.Run("first sync", func(t *testing.T) {
		m := NewMemHost(p)
		m.FailRuns[sync] = 1
		if _, err := runLab(t, m, false, Selection{}); err != nil {
			t.Fatalf("install: %v", err)
		}
		log := m.TakeLog()
		failed := slices.Index(log, "exec "+sync+" (fails)")
		reset := slices.Index(log, "exec mysql: DROP DATABASE IF EXISTS `keystone`; CREATE DATABASE `keystone`;")
		again := slices.Index(log, "exec "+sync)
		if failed < 0 || reset < failed || again < reset {
			t.Errorf("want the failed sync, the database made again, the sync again; log %q", log)
		}
		for _, db := range []string{"keystone", "glance", "nova", "nova_cell0", "nova_api", "placement", "neutron"} {
			if _, ok := m.Files["/var/lib/stacklab/markers/fresh-database-"+db]; ok {
				t.Errorf("database %s still marked fresh after its sync", db)
			}
		}
		if _, err := runLab(t, m, false, Selection{}); err != nil {
			t.Fatal(err)
		}
		if log := m.TakeLog(); len(log) != 0 {
			t.Errorf("the next run changed things: %q", log)
		}
	})
	t.Run("a sync that once finished", func(t *testing.T) {
		m := installed(t)
		m.TakeLog()
		delete(m.Files, "/var/lib/stacklab/markers/keystone-db-sync") // as a new package version would ask for it again
		m.FailRuns[sync] = 1
		if _, err := runLab(t, m, false, Selection{}); err == nil {
			t.Fatal("a failed sync of a lab that had one passed")
		}
		if log := m.TakeLog(); slices.ContainsFunc(log, func(l string) bool { return strings.Contains(l, "DROP DATABASE") }) {
			t.Errorf("a database with a finished sync was dropped: %q", log)
		}
	})
}

// A sync an interrupted install left running is waited for, not raced:
// two keystone db_syncs at once fail on each other's tables.
func TestLeftoverSyncIsWaitedFor(t *testing.T) {
	defer func(p time.Duration) { leftoverPoll = p }(leftoverPoll)
	leftoverPoll = time.Millisecond
	m := NewMemHost(labParams())
	m.Leftover[regexp.QuoteMeta("keystone-manage db_sync")] = 3
	if _, err := runLab(t, m, false, Selection{}); err != nil {
		t.Fatal(err)
	}
	if n := m.Leftover[regexp.QuoteMeta("keystone-manage db_sync")]; n != 0 {
		t.Errorf("the install did not wait for the leftover sync (%d answers unread)", n)
	}
	polls := 0
	for _, c := range m.Commands {
		if len(c.Argv) == 4 && c.Argv[0] == "pgrep" && strings.Contains(c.Argv[3], "keystone") && strings.Contains(c.Argv[3], "db_sync") {
			polls++
		}
	}
	if polls != 4 {
		t.Errorf("pgrep for keystone's sync ran %d times, want 4 (3 with the leftover, then none)", polls)
	}
}
