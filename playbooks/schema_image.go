package playbooks

import (
	"errors"
	"fmt"
	"os"

	"github.com/stacklab/stacklab/playbooks/image"
)

func (v *validator) image(img *Image) {
	switch img.Visibility {
	case "", "private", "public", "shared", "community":
	default:
		v.errorf(img.pos("visibility"), "", "image %s: visibility %q is not private, public, shared or community", img.Name, img.Visibility)
	}
	if img.MinDisk < 0 || img.MinRAM < 0 {
		v.errorf(img.At, "", "image %s: min_disk and min_ram must not be negative", img.Name)
	}
	if img.FromServer != "" {
		v.snapshot(img)
		return
	}
	if img.File == "" {
		v.errorf(img.pos("file"), "add file: PATH, or from_server: SERVER for a snapshot", "image %s needs a file", img.Name)
		return
	}
	img.Path = v.path(img.File)
	info, err := image.InspectRegularFile(img.Path)
	if errors.Is(err, os.ErrNotExist) && img.Build != "" {
		return
	}
	if err != nil {
		v.errorf(img.pos("file"), "", "image %s: %v", img.Name, err)
		return
	}
	img.DetectedFormat = image.DiskFormat(info)
	declared := img.DiskFormat
	if !v.convert(img, info) {
		return
	}
	img.VirtualSize, img.UploadSize = info.VirtualSize, info.FileSize
	if img.Convert != "" {
		img.UploadSize = info.VirtualSize
		// Upload checks apply to the source: conversion keeps its
		// virtual size, and damage or a backing file stops it anyway.
		declared = ""
	}
	// The smallest root disk of the flavors that boot it, so a too-large
	// image is refused now rather than by nova at boot.
	disk := 0
	for _, s := range v.pb.Servers {
		if s.Image != img.Name {
			continue
		}
		for _, f := range v.pb.Flavors {
			if f.Name == s.Flavor && f.Disk > 0 && (disk == 0 || f.Disk < disk) {
				disk = f.Disk
			}
		}
	}
	for _, r := range image.Refusals(image.CheckUpload(info, declared, disk)) {
		key := "file"
		if r.Code == image.RefuseMismatch || r.Code == image.RefuseUnknownFormat {
			key = "disk_format"
		}
		v.errorf(img.pos(key), "fix: "+r.Fix, "image %s: %s", img.Name, r.Reason)
	}
}

// convert validates convert: and, when set, makes DetectedFormat what
// glance will receive. It returns false when it reported a problem.
func (v *validator) convert(img *Image, info image.Info) bool {
	switch img.Convert {
	case "":
		return true
	case string(image.QCOW2):
	default:
		v.errorf(img.pos("convert"), "write convert: qcow2", "image %s: convert: %q is not a format stacklab converts to (qcow2)", img.Name, img.Convert)
		return false
	}
	if img.DiskFormat != "" && img.DiskFormat != img.Convert {
		v.errorf(img.pos("disk_format"), "drop disk_format, or make it "+img.Convert,
			"image %s: disk_format %s, but convert: %s uploads a %s", img.Name, img.DiskFormat, img.Convert, img.Convert)
		return false
	}
	if info.Format == image.ISO {
		v.errorf(img.pos("convert"), "drop convert and upload it as disk_format: iso", "image %s: %s is an ISO installer CD, not a disk to convert", img.Name, img.File)
		return false
	}
	img.SourceFormat = string(info.Format)
	img.DetectedFormat = img.Convert
	return true
}

// serverFits refuses a server whose flavor (declared here) has less RAM
// than its image's min_ram or a smaller root disk than its min_disk:
// nova would accept the request and fail it at boot.
func (v *validator) serverFits(s Server) {
	f, okF := findFlavor(v.pb, s.Flavor)
	img, okI := findImage(v.pb, s.Image)
	if !okF || !okI {
		return // declared in the cloud only, or already reported
	}
	why := ""
	switch {
	case img.MinRAM > 0 && f.RAM < img.MinRAM:
		why = fmt.Sprintf("flavor %s has %d MiB of RAM, image %s asks for min_ram %d MiB: nova refuses to boot it (FlavorMemoryTooSmall)",
			f.Name, f.RAM, img.Name, img.MinRAM)
	case img.MinDisk > 0 && f.Disk > 0 && f.Disk < img.MinDisk:
		why = fmt.Sprintf("flavor %s has a %d GiB root disk, image %s asks for min_disk %d GiB: nova refuses to boot it (FlavorDiskSmallerThanImage)",
			f.Name, f.Disk, img.Name, img.MinDisk)
	default:
		return
	}
	v.errorf(s.pos("flavor"), fitHint(v.pb.Flavors, img), "server %s: %s", s.Name, why)
}

// diskGiB is the root disk an image needs: min_disk, or its virtual
// size rounded up.
func diskGiB(img Image) int {
	return max(img.MinDisk, int((img.VirtualSize+1<<30-1)>>30))
}

// fitHint names the smallest declared flavor that boots img, or the
// flavor to declare when none does.
func fitHint(flavors []Flavor, img Image) string {
	var best *Flavor
	for i, f := range flavors {
		if f.RAM < img.MinRAM || f.Disk > 0 && f.Disk < diskGiB(img) {
			continue
		}
		if best == nil || f.RAM < best.RAM || f.RAM == best.RAM && (f.Disk < best.Disk || f.Disk == best.Disk && f.VCPUs < best.VCPUs) {
			best = &flavors[i]
		}
	}
	if best != nil {
		return fmt.Sprintf("use flavor: %s (%d MiB, %d GiB), the smallest in this playbook that fits", best.Name, best.RAM, best.Disk)
	}
	return fmt.Sprintf("declare a flavor with ram: %d or more and disk: %d or more", max(img.MinRAM, 1), max(diskGiB(img), 1))
}

func findFlavor(pb *Playbook, name string) (Flavor, bool) {
	for _, f := range pb.Flavors {
		if f.Name == name {
			return f, true
		}
	}
	return Flavor{}, false
}

func findImage(pb *Playbook, name string) (Image, bool) {
	for _, img := range pb.Images {
		if img.Name == name {
			return img, true
		}
	}
	return Image{}, false
}

// snapshot validates an image made with from_server: nova decides its
// data and format, so nothing about a file may be declared.
func (v *validator) snapshot(img *Image) {
	for key, set := range map[string]bool{"file": img.File != "", "convert": img.Convert != "", "build": img.Build != "",
		"disk_format": img.DiskFormat != "", "container_format": img.ContainerFormat != ""} {
		if set {
			v.errorf(img.pos(key), "drop "+key+", or drop from_server to upload a file",
				"image %s: %s and from_server exclude each other (a snapshot's data and format come from nova)", img.Name, key)
		}
	}
}

// snapshotCycle refuses a server that boots, directly or through other
// snapshots, from a snapshot of itself: neither could be made first.
func (v *validator) snapshotCycle(s Server) {
	seen := map[string]bool{}
	for name := s.Image; name != ""; {
		img, ok := findImage(v.pb, name)
		if !ok || img.FromServer == "" || seen[name] {
			return
		}
		seen[name] = true
		if img.FromServer == s.Name {
			v.errorf(s.pos("image"), "boot it from another image; a snapshot needs its server first",
				"server %s boots from image %s, a snapshot of server %s itself", s.Name, s.Image, s.Name)
			return
		}
		src, ok := findServer(v.pb, img.FromServer)
		if !ok {
			return
		}
		name = src.Image
	}
}

func findServer(pb *Playbook, name string) (Server, bool) {
	for _, s := range pb.Servers {
		if s.Name == name {
			return s, true
		}
	}
	return Server{}, false
}
