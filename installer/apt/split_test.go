package apt

import (
	"testing"
	"time"
)

// The install log says where an apt run's time went: each status line's
// stage lasts until the next line, and dpkg interleaves unpacking and
// configuring (CI17 printed "unpack 0.1 s, configure 216.7 s" when the
// split was cut at each stage's first line).
func TestTrackerSplitsDownloadUnpackConfigure(t *testing.T) {
	clock := time.Date(2026, 12, 4, 0, 0, 0, 0, time.UTC)
	tr := newTrackerAt(nil, func() time.Time { return clock })
	at := func(sec float64, line string) {
		clock = time.Date(2026, 12, 4, 0, 0, 0, 0, time.UTC).Add(time.Duration(sec * float64(time.Second)))
		if line != "" {
			tr.statusLine(line)
		}
	}
	at(2, "dlstatus:1:0.0:Retrieving file 1 of 2")
	at(5, "dlstatus:2:50.0:Retrieving file 2 of 2")
	at(14, "pmstatus:dpkg-exec:0.0:Running dpkg")
	at(15, "pmstatus:hostname:10.0:Preparing hostname (amd64)")
	at(20, "pmstatus:hostname:20.0:Unpacking hostname (amd64)")
	at(30, "pmstatus:hostname:60.0:Configuring hostname (amd64)")
	at(31.5, "pmstatus:hostname:70.0:Preparing to configure nova-common (all)")
	at(33, "pmstatus:nova-common:75.0:Unpacking nova-common (all)")
	at(34, "pmstatus:dpkg-exec:75.0:Running dpkg")
	at(35, "pmstatus:nova-common:80.0:Configuring nova-common (all)")
	at(40, "")
	if got, want := tr.split(), "download 13.0 s, unpack 17.0 s, configure 8.0 s, in 40.0 s"; got != want {
		t.Errorf("split = %q, want %q", got, want)
	}
	// A download-only run has one stage.
	tr = newTrackerAt(nil, func() time.Time { return clock })
	at(41, "dlstatus:1:0.0:Retrieving file 1 of 1")
	at(44, "")
	if got, want := tr.split(), "download 3.0 s, in 4.0 s"; got != want {
		t.Errorf("download only: split = %q, want %q", got, want)
	}
}
