package main

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/stacklab/stacklab/netcfg"
)

// countedLinks names its one NIC after the read that produced it.
type countedLinks struct {
	reads int
	fail  bool
}

func (c *countedLinks) Links(context.Context) (netcfg.Snapshot, error) {
	c.reads++
	if c.fail {
		return netcfg.Snapshot{}, errors.New("netlink: permission denied")
	}
	return netcfg.Snapshot{Links: []netcfg.Link{{Name: fmt.Sprintf("read%d", c.reads)}}}, nil
}

func linkName(s netcfg.Snapshot) string {
	if len(s.Links) == 0 {
		return ""
	}
	return s.Links[0].Name
}

func TestSharedLinksHandsTheFactsReadToTheFirstRun(t *testing.T) {
	src := &countedLinks{}
	l := &sharedLinks{src: src}
	// setup's facts, the first run's NIC checks, the run after --fix.
	var got []string
	for range 3 {
		s, err := l.Links(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, linkName(s))
	}
	if want := []string{"read1", "read1", "read2"}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("snapshots %v, want %v: the first run shares setup's read, the run after the repairs reads afresh", got, want)
	}
	if src.reads != 2 {
		t.Errorf("kernel read %d times for three readers, want 2", src.reads)
	}
}

func TestSharedLinksKeepsNoFailedRead(t *testing.T) {
	src := &countedLinks{fail: true}
	l := &sharedLinks{src: src}
	if _, err := l.Links(context.Background()); err == nil {
		t.Fatal("the source's error was swallowed")
	}
	src.fail = false
	s, err := l.Links(context.Background())
	if err != nil || linkName(s) != "read2" {
		t.Errorf("after a failed read got %q, %v; want a fresh read (read2), not an empty kept snapshot", linkName(s), err)
	}
}
