package image

import (
	"bytes"
	"encoding/binary"
)

// bootLook is how much of the guest disk the boot verdict looks at: the MBR,
// the GPT header in LBA 1, and an ext superblock at 1024.
const bootLook = 4096

// judgeBoot sets the verdict from the guest's first bytes.
func judgeBoot(info *Info, first []byte) {
	switch {
	case len(first) == 0:
		info.boot(No, "the disk is empty (virtual size 0)")
	case isZero(first):
		info.boot(No, "the guest's first sectors are empty: no boot loader and no partition table (a blank disk, as `qemu-img create` makes)")
	case len(first) >= 520 && string(first[512:520]) == "EFI PART":
		info.boot(Likely, "GPT partition table (boots with UEFI firmware, or with BIOS when it carries a BIOS boot partition)")
	case len(first) >= 512 && first[510] == 0x55 && first[511] == 0xaa:
		info.boot(Likely, "MBR boot signature in the first sector")
	case len(first) >= 1082 && first[1080] == 0x53 && first[1081] == 0xef:
		info.boot(No, "the disk starts with an ext2/3/4 filesystem, not a partition table: it is a filesystem image, not a disk image")
	default:
		info.boot(No, "no MBR boot signature and no GPT in the first sectors")
	}
}

func isZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// archives are formats users upload by mistake: a compressed or packed disk
// is "raw" to glance and boots nothing. Offsets and magics from each format's
// spec; fix is the command that unpacks it.
func archiveKind(head []byte) (kind, fix string) {
	has := func(off int, magic string) bool {
		return len(head) >= off+len(magic) && string(head[off:off+len(magic)]) == magic
	}
	switch {
	case has(0, "\x1f\x8b"):
		return "gzip-compressed", "gunzip FILE"
	case has(0, "\xfd7zXZ\x00"):
		return "xz-compressed", "unxz FILE"
	case has(0, "BZh"):
		return "bzip2-compressed", "bunzip2 FILE"
	case has(0, "\x28\xb5\x2f\xfd"):
		return "zstd-compressed", "unzstd FILE"
	case has(0, "PK\x03\x04"):
		return "a zip archive", "unzip FILE"
	case has(0, "7z\xbc\xaf\x27\x1c"):
		return "a 7-zip archive", "7z x FILE"
	case has(257, "ustar"):
		return "a tar archive (an OVA is one)", "tar xf FILE"
	}
	return "", ""
}

func inspectRaw(s src, info *Info) error {
	info.Format = Raw
	info.VirtualSize = s.size
	if s.size == 0 {
		info.problemf("the file is empty")
		info.boot(No, "the file is empty")
		return nil
	}
	head, err := s.readUpTo("first sectors", 0, bootLook)
	if err != nil {
		return short(info, err)
	}
	if kind, fix := archiveKind(head); kind != "" {
		info.problemf("the file is %s, not a disk image: unpack it first (%s) and upload what it contains", kind, fix)
		info.boot(No, "an archive, not a disk")
		return nil
	}
	if s.size%512 != 0 {
		info.notef("the size is not a multiple of 512 bytes: a whole disk image always is; was it cut short?")
	}
	judgeBoot(info, head)
	switch {
	case len(head) >= 520 && string(head[512:520]) == "EFI PART":
		info.notef("looks like a whole disk with a GPT partition table")
	case len(head) >= 512 && head[510] == 0x55 && head[511] == 0xaa:
		info.notef("looks like a whole disk with an MBR")
	}
	return nil
}

// ISO 9660 volume descriptors start at sector 16 (byte 0x8000), one per
// 2048-byte sector; "CD001" follows the one-byte type. UDF-only media carry
// "BEA01" there instead.
const (
	isoDescStart = 0x8000
	isoSector    = 2048
	isoMaxDescs  = 32
)

func isISO(s src) bool {
	for _, off := range []int64{0x8001, 0x8801, 0x9001} {
		if s.has(off, "CD001") || s.has(off, "BEA01") {
			return true
		}
	}
	return false
}

func inspectISO(s src, info *Info) error {
	info.Format = ISO
	info.VirtualSize = s.size
	info.notef("an ISO boots as a CD-ROM: upload it with --disk-format iso; the instance's root disk then comes from the flavor")
	if b, err := s.read("mbr", 510, 2); err == nil && b[0] == 0x55 && b[1] == 0xaa {
		info.notef("hybrid ISO (it also has an MBR): it can be written to a disk, but glance should still be told iso")
	}
	elTorito := false
	for i := range int64(isoMaxDescs) {
		d, err := s.read("iso volume descriptor", isoDescStart+i*isoSector, isoSector)
		if err != nil {
			return short(info, err)
		}
		if string(d[1:6]) != "CD001" {
			if i == 0 {
				// UDF-only, or a secondary descriptor set: no PVD here.
				break
			}
			continue
		}
		switch d[0] {
		case 0: // boot record
			elTorito = elTorito || bytes.HasPrefix(d[7:], []byte("EL TORITO SPECIFICATION"))
		case 1: // primary volume descriptor: the volume's own idea of its size
			blocks := int64(binary.LittleEndian.Uint32(d[80:]))
			bs := int64(binary.LittleEndian.Uint16(d[128:]))
			if want := blocks * bs; want > s.size {
				info.problemf("truncated: the ISO volume is %d bytes but the file has %d", want, s.size)
			}
		}
		if d[0] == 255 { // set terminator
			break
		}
	}
	if elTorito {
		info.boot(Likely, "El Torito boot record (boots as a CD-ROM)")
	} else {
		info.boot(No, "no El Torito boot record: a data CD")
	}
	return nil
}
