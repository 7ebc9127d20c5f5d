package image

import (
	"errors"
	"fmt"
	"strings"
)

// DiskFormat is the glance disk_format value that describes the file.
func DiskFormat(info Info) string {
	switch info.Format {
	case QCOW2, Raw, ISO, VMDK, VDI, VHD, VHDX:
		return string(info.Format)
	}
	// Inspect always sets a format; a zero Info is nothing but bytes.
	return string(Raw)
}

// Refusal is one reason CheckUpload refuses a file. Code is stable
// kebab-case for programs; Reason and Fix are for the user, Fix being
// something to run or do.
type Refusal struct {
	Code   string `json:"code"`
	Reason string `json:"reason"`
	Fix    string `json:"fix"`
}

func (r *Refusal) Error() string {
	return fmt.Sprintf("%s; fix: %s", r.Reason, r.Fix)
}

// Refusal codes.
const (
	RefuseUnknownFormat = "unknown-disk-format"
	RefuseMismatch      = "format-mismatch"
	RefuseBacking       = "backing-file"
	RefuseEncrypted     = "encrypted"
	RefuseDamaged       = "damaged"
	RefuseTooLarge      = "too-large"
)

// Refusals returns every Refusal in an error from CheckUpload.
func Refusals(err error) []*Refusal {
	var out []*Refusal
	var multi interface{ Unwrap() []error }
	if errors.As(err, &multi) {
		for _, e := range multi.Unwrap() {
			out = append(out, Refusals(e)...)
		}
		return out
	}
	var r *Refusal
	if errors.As(err, &r) {
		out = append(out, r)
	}
	return out
}

// glanceFormats are the disk_format values glance accepts, in the order
// its docs list them.
func glanceFormats() []string {
	return []string{"ami", "ari", "aki", "vhd", "vhdx", "vmdk", "raw", "qcow2", "vdi", "iso", "ploop"}
}

// CheckUpload decides whether a file described by info may be uploaded to
// glance as disk_format declared and booted with a flavor whose root disk
// is flavorDiskGiB (0: the flavor sets no limit, as nova then sizes the
// disk from the image). declared "" means "take the detected format". It
// returns nil, or every reason to refuse joined (see Refusals), each
// naming its fix; the file and the declaration are left to the caller.
func CheckUpload(info Info, declared string, flavorDiskGiB int) error {
	var errs []error
	refuse := func(code, fix, format string, args ...any) {
		errs = append(errs, &Refusal{Code: code, Reason: fmt.Sprintf(format, args...), Fix: fix})
	}
	detected := DiskFormat(info)
	declared = strings.ToLower(strings.TrimSpace(declared))
	create := fmt.Sprintf("openstack image create --disk-format %s --container-format bare --file FILE NAME", detected)
	switch {
	case declared == "" || declared == detected:
	case !contains(glanceFormats(), declared):
		refuse(RefuseUnknownFormat, create,
			"%q is not a glance disk_format (an .img file is usually raw or qcow2); this file is %s", declared, detected)
	case info.Format == ISO:
		refuse(RefuseMismatch, create+" (nova attaches an iso as a CD-ROM and takes the root disk from the flavor)",
			"declared disk_format %s, but the file is an ISO 9660 CD image", declared)
	default:
		fix := fmt.Sprintf("declare it as it is (%s), or convert it: qemu-img convert -f %s -O %s FILE OUT",
			create, info.Format.QemuName(), Format(declared).QemuName())
		refuse(RefuseMismatch, fix,
			"declared disk_format %s, but the file is %s: nova would read its bytes as the wrong format and the guest would not boot", declared, detected)
	}
	if info.BackingFile != "" {
		refuse(RefuseBacking, fmt.Sprintf("flatten it into one file: qemu-img convert -O %s FILE OUT", info.Format.QemuName()),
			"the image depends on the backing file %s, which glance does not receive", info.BackingFile)
	}
	if info.Encryption != "" {
		refuse(RefuseEncrypted, "decrypt it: qemu-img convert --object secret,id=sec0,file=KEYFILE --image-opts driver=qcow2,file.filename=FILE,encrypt.key-secret=sec0 -O qcow2 OUT",
			"the image is encrypted (%s); nova cannot boot it without its secret in a key manager", info.Encryption)
	}
	if len(info.Problems) > 0 {
		refuse(RefuseDamaged, "copy the file again from its source and compare checksums; for a qcow2 that qemu can still open: qemu-img check -r all FILE",
			"the file is damaged: %s", strings.Join(info.Problems, "; "))
	}
	if flavorDiskGiB > 0 && info.VirtualSize > int64(flavorDiskGiB)<<30 {
		need := (info.VirtualSize + 1<<30 - 1) >> 30
		refuse(RefuseTooLarge, fmt.Sprintf("use a flavor with a root disk of at least %d GiB", need),
			"the virtual disk is %s, larger than the flavor's %d GiB root disk: nova refuses to boot it (FlavorDiskSmallerThanImage)",
			humanBytes(info.VirtualSize), flavorDiskGiB)
	}
	return errors.Join(errs...)
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
