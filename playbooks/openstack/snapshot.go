package openstack

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/servers"
	"github.com/gophercloud/gophercloud/v2/openstack/image/v2/images"

	"github.com/stacklab/stacklab/internal/fix"
	"github.com/stacklab/stacklab/playbooks"
)

// snapshotTimeout bounds the wait for a snapshot to turn active: the lab
// measured 2.6 s for the tiny guest; a student's 10 GiB disk under TCG
// takes minutes.
const snapshotTimeout = 15 * time.Minute

// ErrServerNotActive is the cause when a snapshot's server is not ACTIVE.
var ErrServerNotActive = errors.New("server is not ACTIVE")

// snapshot makes the image as nova's createImage of spec.FromServer and
// waits until glance has it active.
func (d *imageDriver) snapshot(ctx context.Context, spec playbooks.Image, owner string) error {
	s, found, err := d.c.findServer(ctx, spec.FromServer)
	if err != nil {
		return fmt.Errorf("image %s: %w", spec.Name, err)
	}
	if !found {
		return fmt.Errorf("image %s: server %s does not exist", spec.Name, spec.FromServer)
	}
	if s.Status != "ACTIVE" {
		return fix.Errorf(fmt.Sprintf("openstack server start %s", s.Name), "image %s: server %s is %s: %w", spec.Name, s.Name, s.Status, ErrServerNotActive)
	}
	nova, err := d.c.novaClient()
	if err != nil {
		return err
	}
	id, err := servers.CreateImage(ctx, nova, s.ID, servers.CreateImageOpts{
		Name: spec.Name, Metadata: map[string]string{ownerProperty: playbooks.Marker(owner)},
	}).ExtractImageID()
	if err != nil {
		return fmt.Errorf("nova: snapshot server %s as image %s: %w", s.Name, spec.Name, err)
	}
	gc, err := d.c.glanceClient()
	if err != nil {
		return err
	}
	wctx, cancel := context.WithTimeout(ctx, snapshotTimeout)
	defer cancel()
	var last images.Image
	err = wait(wctx, d.c.o.PollInterval, func() (bool, error) {
		got, err := images.Get(wctx, gc, id).Extract()
		if err != nil {
			return false, fmt.Errorf("glance: image %s: %w", spec.Name, err)
		}
		last = *got
		switch last.Status {
		case images.ImageStatusActive:
			return true, nil
		case images.ImageStatusKilled, images.ImageStatusDeleted, images.ImageStatusDeactivated:
			return false, fmt.Errorf("glance: snapshot %s of server %s is %s", spec.Name, s.Name, last.Status)
		}
		return false, nil
	})
	if err != nil {
		// A snapshot that never became active holds no usable data.
		if derr := d.Delete(context.WithoutCancel(ctx), playbooks.Current{ID: id}); derr != nil {
			return fmt.Errorf("%w (and deleting the unfinished snapshot %s failed: %w)", err, id, derr)
		}
		return fmt.Errorf("image %s: snapshot of server %s (last %s): %w", spec.Name, s.Name, last.Status, err)
	}
	return d.setDeclared(ctx, id, spec)
}

// setDeclared applies what the playbook declares on a snapshot nova made
// with its own values.
func (d *imageDriver) setDeclared(ctx context.Context, id string, spec playbooks.Image) error {
	var patch images.UpdateOpts
	if spec.Visibility != "" && spec.Visibility != "private" {
		patch = append(patch, images.UpdateVisibility{Visibility: images.ImageVisibility(spec.Visibility)})
	}
	if spec.MinDisk > 0 {
		patch = append(patch, images.ReplaceImageMinDisk{NewMinDisk: spec.MinDisk})
	}
	if spec.MinRAM > 0 {
		patch = append(patch, images.ReplaceImageMinRam{NewMinRam: spec.MinRAM})
	}
	if len(patch) == 0 {
		return nil
	}
	gc, err := d.c.glanceClient()
	if err != nil {
		return err
	}
	if _, err := images.Update(ctx, gc, id, patch).Extract(); err != nil {
		return fmt.Errorf("glance: update snapshot %s: %w", spec.Name, err)
	}
	return nil
}
