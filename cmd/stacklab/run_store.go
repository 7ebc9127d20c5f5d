package main

import (
	"context"
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

// checkGlanceStoreBeforeApply plans only to know the uploads, and only
// when the store can be read: elsewhere apply plans once, as before.
func (e *env) checkGlanceStoreBeforeApply(ctx context.Context, cloudName string, pb *playbooks.Playbook, cl playbooks.Cloud, sr spaceReader, quiet bool) error {
	if sr == nil || len(pb.Images) == 0 {
		return nil
	}
	if _, skip := glanceStoreFree(cloudName, sr); skip != "" {
		e.noteStoreSkipped(skip, quiet)
		return nil
	}
	plan, err := playbooks.PlanApply(ctx, pb, cl)
	if err != nil {
		// Apply plans again and reports this with the rest.
		return nil
	}
	if err := e.checkGlanceStore(cloudName, pb, plan, sr, quiet); err != nil {
		return &failure{code: exitFailed, err: playbookErr(err)}
	}
	return nil
}

func (e *env) noteStoreSkipped(why string, quiet bool) {
	if !quiet {
		fmt.Fprintf(e.stderr, "  note: glance's free space not checked before uploads: %s\n", why)
	}
}
