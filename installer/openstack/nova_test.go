package openstack

import (
	"testing"
	"time"
)

func TestReportedSince(t *testing.T) {
	start := time.Date(2026, 12, 7, 10, 0, 30, 700e6, time.UTC)
	tests := []struct {
		report, start time.Time
		want          bool
	}{
		{start.Add(-10 * time.Second), start, false}, // the predecessor's heartbeat
		{start.Truncate(time.Second), start, true},   // whole seconds: the start's own second counts
		{start.Add(12 * time.Second), start, true},
		{time.Time{}, start, true},                 // created, not yet updated
		{start.Add(-time.Hour), time.Time{}, true}, // start unknown
	}
	for _, tt := range tests {
		if got := ReportedSince(tt.report, tt.start); got != tt.want {
			t.Errorf("ReportedSince(%v, %v) = %v, want %v", tt.report, tt.start, got, tt.want)
		}
	}
}
