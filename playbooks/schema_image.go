package playbooks

import (
	"errors"
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
	if img.File == "" {
		v.errorf(img.pos("file"), "add file: PATH", "image %s needs a file", img.Name)
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
	if img.Convert != "" {
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
