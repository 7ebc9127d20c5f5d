package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/stacklab/stacklab/internal/cloud"
	"github.com/stacklab/stacklab/playbooks"
)

// GlanceStoreDir is where the lab's glance (file store) keeps image data.
const GlanceStoreDir = "/var/lib/glance/images"

// spaceReader tells the bytes free in dir's file system.
type spaceReader interface {
	Available(dir string) (int64, error)
}

// glanceStoreFree returns the free space of glance's store, or why it
// cannot be known from here: only the lab's own cloud has its store on
// this host.
func glanceStoreFree(cloudName string, sr spaceReader) (avail int64, skip string) {
	name := cloudName
	if name == "" {
		name = os.Getenv("OS_CLOUD")
	}
	if name != "" && name != cloud.DefaultCloudName {
		return 0, fmt.Sprintf("cloud %s is not this host's lab", name)
	}
	avail, err := sr.Available(GlanceStoreDir)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, GlanceStoreDir + " is not on this host"
	}
	if err != nil {
		return 0, err.Error()
	}
	return avail, ""
}

// checkGlanceStore refuses uploads that glance's store cannot hold, or
// notes that it could not tell.
func (e *env) checkGlanceStore(cloudName string, pb *playbooks.Playbook, plan *playbooks.Plan, sr spaceReader, quiet bool) error {
	if sr == nil || len(playbooks.Uploads(pb, plan)) == 0 {
		return nil
	}
	avail, skip := glanceStoreFree(cloudName, sr)
	if skip != "" {
		e.noteStoreSkipped(skip, quiet)
		return nil
	}
	return playbooks.CheckStoreSpace(pb, plan, GlanceStoreDir, avail)
}

// glanceStoreCheck is Apply's CheckPlan for the uploads its plan makes:
// the run's own plan, so nothing is read twice. Nil when there is nothing
// to check, or the store cannot be read from here (noted).
func (e *env) glanceStoreCheck(cloudName string, pb *playbooks.Playbook, sr spaceReader, quiet bool) func(*playbooks.Plan) error {
	if sr == nil || len(pb.Images) == 0 {
		return nil
	}
	if _, skip := glanceStoreFree(cloudName, sr); skip != "" {
		e.noteStoreSkipped(skip, quiet)
		return nil
	}
	return func(plan *playbooks.Plan) error { return e.checkGlanceStore(cloudName, pb, plan, sr, quiet) }
}

func (e *env) noteStoreSkipped(why string, quiet bool) {
	if !quiet {
		fmt.Fprintf(e.stderr, "  note: glance's free space not checked before uploads: %s\n", why)
	}
}
