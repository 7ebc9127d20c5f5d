package openstack

import (
	"context"
	"crypto/md5" // glance's legacy checksum; verified, not trusted for security
	"crypto/sha512"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"net/http"
	"strings"
	"sync"

	"github.com/gophercloud/gophercloud/v2/openstack/image/v2/images"

	"github.com/stacklab/stacklab/internal/fix"
	"github.com/stacklab/stacklab/internal/safefile"
	"github.com/stacklab/stacklab/playbooks"
	"github.com/stacklab/stacklab/playbooks/image"
)

// ownerProperty is the glance image property that holds the marker:
// images have no description.
const ownerProperty = "stacklab_playbook"

type imageDriver struct{ c *Cloud }

// imageStatuses remembers the status Get saw per image ID, for Diff, which
// only receives the spec (and playbooks.Image has no status field).
type imageStatuses struct {
	mu sync.Mutex
	m  map[string]string
}

func (s *imageStatuses) set(id, status string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[string]string{}
	}
	s.m[id] = status
}

func (s *imageStatuses) get(id string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.m[id]
}

// findImage lists by name even while reads are shared: a cloud's image
// list is long, and glance pages it.
func (c *Cloud) findImage(ctx context.Context, name string) (images.Image, bool, error) {
	all, err := cachedRead(ctx, "images?name="+name, func() ([]images.Image, error) {
		gc, err := c.glanceClient()
		if err != nil {
			return nil, err
		}
		pages, err := images.List(gc, images.ListOpts{Name: name}).AllPages(ctx)
		if err != nil {
			return nil, fmt.Errorf("glance: list images: %w", err)
		}
		all, err := images.ExtractImages(pages)
		if err != nil {
			return nil, fmt.Errorf("glance: list images: %w", err)
		}
		return all, nil
	})
	if err != nil {
		return images.Image{}, false, err
	}
	return pickOne(playbooks.KindImage, name, all, func(i images.Image) string { return i.Name }, func(i images.Image) string { return i.ID })
}

func stringProperty(img images.Image, key string) string {
	s, _ := img.Properties[key].(string)
	return s
}

func imageSpec(img images.Image) playbooks.Image {
	return playbooks.Image{Name: img.Name, DiskFormat: img.DiskFormat, DetectedFormat: img.DiskFormat,
		ContainerFormat: img.ContainerFormat, MinDisk: img.MinDiskGigabytes, MinRAM: img.MinRAMMegabytes,
		Visibility: string(img.Visibility)}
}

func (d *imageDriver) Get(ctx context.Context, name string) (playbooks.Current, bool, error) {
	img, found, err := d.c.findImage(ctx, name)
	if err != nil || !found {
		return playbooks.Current{}, found, err
	}
	d.c.imageStatus.set(img.ID, string(img.Status))
	info := map[string]string{"id": img.ID, "status": string(img.Status), "size": fmt.Sprintf("%d", img.SizeBytes)}
	return playbooks.Current{ID: img.ID, Owner: playbooks.OwnerOf(stringProperty(img, ownerProperty)), Spec: imageSpec(img), Info: info}, true, nil
}

// imageDiff is the managed fields that differ plus the status when it is
// not active: an image an interrupted upload left queued or saving has no
// usable data, and only a new upload fixes it.
func imageDiff(want playbooks.Image, have playbooks.Image, status string) []playbooks.FieldChange {
	changes := playbooks.DiffFields(playbooks.Fields(want), playbooks.Fields(have))
	if status != "" && status != string(images.ImageStatusActive) {
		changes = append(changes, playbooks.FieldChange{Field: "status", From: status, To: string(images.ImageStatusActive)})
	}
	return changes
}

func (d *imageDriver) Diff(r playbooks.Resource, cur playbooks.Current) []playbooks.FieldChange {
	return imageDiff(r.Spec.(playbooks.Image), cur.Spec.(playbooks.Image), d.c.imageStatus.get(cur.ID))
}

// needsUpload tells whether changes can only be made by uploading anew.
func needsUpload(changes []playbooks.FieldChange) bool {
	for _, c := range changes {
		switch c.Field {
		case "disk_format", "container_format", "status":
			return true
		}
	}
	return false
}

func (d *imageDriver) Update(ctx context.Context, r playbooks.Resource, cur playbooks.Current, changes []playbooks.FieldChange) error {
	if needsUpload(changes) {
		d.c.logf("image %s: %s needs a new upload; deleting and uploading it again", r.Name, changes[0].Field)
		if err := d.Delete(ctx, cur); err != nil {
			return err
		}
		return d.Create(ctx, r, cur.Owner)
	}
	img := r.Spec.(playbooks.Image)
	gc, err := d.c.glanceClient()
	if err != nil {
		return err
	}
	var patch images.UpdateOpts
	for _, c := range changes {
		switch c.Field {
		case "min_disk":
			patch = append(patch, images.ReplaceImageMinDisk{NewMinDisk: img.MinDisk})
		case "min_ram":
			patch = append(patch, images.ReplaceImageMinRam{NewMinRam: img.MinRAM})
		case "visibility":
			patch = append(patch, images.UpdateVisibility{Visibility: images.ImageVisibility(visibility(img))})
		}
	}
	if len(patch) == 0 {
		return nil
	}
	if _, err := images.Update(ctx, gc, cur.ID, patch).Extract(); err != nil {
		return fmt.Errorf("glance: update image %s: %w", r.Name, err)
	}
	return nil
}

func visibility(img playbooks.Image) string {
	if img.Visibility == "" {
		return "private"
	}
	return img.Visibility
}

func (d *imageDriver) Delete(ctx context.Context, cur playbooks.Current) error {
	gc, err := d.c.glanceClient()
	if err != nil {
		return err
	}
	if err := ignoreNotFound(images.Delete(ctx, gc, cur.ID).ExtractErr()); err != nil {
		return fmt.Errorf("glance: delete image %s: %w", cur.ID, err)
	}
	return nil
}

// ChecksumError: glance stored other bytes than we sent.
type ChecksumError struct {
	Image, Algo, Ours, Glance string
}

func (e *ChecksumError) Error() string {
	return fmt.Sprintf("glance: image %s: %s of the stored data is %s, but we sent %s: the upload was corrupted in transit; the image was deleted, apply again",
		e.Image, e.Algo, e.Glance, e.Ours)
}

// verifyUpload compares glance's record of an upload with the hashes of
// the bytes sent.
func verifyUpload(name string, got images.Image, sha512Hex, md5Hex string) error {
	if got.Status != images.ImageStatusActive {
		return fmt.Errorf("glance: image %s is %s after the upload, not active", name, got.Status)
	}
	algo := stringProperty(got, "os_hash_algo")
	value := stringProperty(got, "os_hash_value")
	if value != "" && (algo == "" || algo == "sha512") && !strings.EqualFold(value, sha512Hex) {
		return &ChecksumError{Image: name, Algo: "sha512", Ours: sha512Hex, Glance: value}
	}
	if got.Checksum != "" && !strings.EqualFold(got.Checksum, md5Hex) {
		return &ChecksumError{Image: name, Algo: "md5", Ours: md5Hex, Glance: got.Checksum}
	}
	if value == "" && got.Checksum == "" {
		return fmt.Errorf("glance: image %s is active but reports no checksum to verify the upload against", name)
	}
	return nil
}

func (d *imageDriver) Create(ctx context.Context, r playbooks.Resource, owner string) error {
	spec := r.Spec.(playbooks.Image)
	if spec.FromServer != "" {
		return d.snapshot(ctx, spec, owner)
	}
	if spec.Path == "" {
		return fmt.Errorf("image %s: no file to upload", spec.Name)
	}
	if spec.Convert != "" {
		if d.c.o.Convert == nil {
			return fix.Errorf(fmt.Sprintf("stacklab image convert %s OUT.qcow2 and point file at OUT", spec.Path), "image %s: convert: %s is declared, but this stacklab has no converter", spec.Name, spec.Convert)
		}
		converted, err := d.c.o.Convert(ctx, spec.Path)
		if err != nil {
			return fmt.Errorf("image %s: %w", spec.Name, err)
		}
		// Everything below (checks, upload, checksums) is about the
		// bytes glance receives.
		spec.Path = converted
	}
	info, err := image.InspectRegularFile(spec.Path)
	if err != nil {
		return fmt.Errorf("image %s: %w", spec.Name, err)
	}
	// Load checked this already; the file may have changed since.
	if err := image.CheckUpload(info, spec.DiskFormat, 0); err != nil {
		return fmt.Errorf("image %s: refusing to upload %s: %w", spec.Name, spec.Path, err)
	}
	gc, err := d.c.glanceClient()
	if err != nil {
		return err
	}
	cf := spec.ContainerFormat
	if cf == "" {
		cf = "bare"
	}
	vis := images.ImageVisibility(visibility(spec))
	created, err := images.Create(ctx, gc, images.CreateOpts{
		Name: spec.Name, DiskFormat: image.DiskFormat(info), ContainerFormat: cf,
		MinDisk: spec.MinDisk, MinRAM: spec.MinRAM, Visibility: &vis,
		Properties: map[string]string{ownerProperty: playbooks.Marker(owner)},
	}).Extract()
	if err != nil {
		return fmt.Errorf("glance: create image %s: %w", spec.Name, err)
	}
	if err := d.upload(ctx, created.ID, spec); err != nil {
		// A record without data is useless; a cancelled apply must still
		// remove it.
		cleanup := context.WithoutCancel(ctx)
		if derr := d.Delete(cleanup, playbooks.Current{ID: created.ID}); derr != nil {
			return fmt.Errorf("%w (and deleting the partial image %s failed: %w)", err, created.ID, derr)
		}
		return err
	}
	return nil
}

// progressReader reports bytes read at most every step bytes and at EOF.
type progressReader struct {
	r           io.Reader
	name        string
	done, total int64
	last, step  int64
	report      func(name string, done, total int64)
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	p.done += int64(n)
	if p.report != nil && (p.done-p.last >= p.step || err == io.EOF) {
		p.last = p.done
		p.report(p.name, p.done, p.total)
	}
	return n, err
}

// upload streams the file to glance: the file is read once, through the
// hashes, in constant memory.
func (d *imageDriver) upload(ctx context.Context, id string, spec playbooks.Image) error {
	f, err := safefile.OpenRegular(spec.Path)
	if err != nil {
		return fmt.Errorf("image %s: %w", spec.Name, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("image %s: %w", spec.Name, err)
	}
	sum512, sum5 := sha512.New(), md5.New()
	body := &progressReader{
		r:    io.TeeReader(f, io.MultiWriter(sum512, sum5)),
		name: spec.Name, total: st.Size(), step: 1 << 20, report: d.c.o.Progress,
	}
	if err := d.put(ctx, id, body, st.Size()); err != nil {
		return fmt.Errorf("glance: upload %s: %w", spec.Name, err)
	}
	if body.done != st.Size() {
		return fmt.Errorf("glance: upload %s: sent %d bytes of %d (did the file change during the upload?)", spec.Name, body.done, st.Size())
	}
	gc, err := d.c.glanceClient()
	if err != nil {
		return err
	}
	got, err := images.Get(ctx, gc, id).Extract()
	if err != nil {
		return fmt.Errorf("glance: read image %s after upload: %w", spec.Name, err)
	}
	return verifyUpload(spec.Name, *got, hexSum(sum512), hexSum(sum5))
}

func hexSum(h hash.Hash) string { return hex.EncodeToString(h.Sum(nil)) }

// put sends the image data. It does not go through gophercloud's request
// helper, which cannot set Content-Length on a streamed body: a chunked
// upload needs glance's uwsgi to be configured for chunked input, while a
// sized one works everywhere.
func (d *imageDriver) put(ctx context.Context, id string, body io.Reader, size int64) error {
	gc, err := d.c.glanceClient()
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, gc.ServiceURL("images", id, "file"), body)
	if err != nil {
		return err
	}
	req.ContentLength = size
	req.Header.Set("Content-Type", "application/octet-stream")
	for k, v := range gc.ProviderClient.AuthenticatedHeaders() {
		req.Header.Set(k, v)
	}
	resp, err := gc.ProviderClient.HTTPClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusNoContent && resp.StatusCode != http.StatusOK {
		return fmt.Errorf("PUT image data: %s: %s", resp.Status, strings.TrimSpace(string(msg)))
	}
	return nil
}
