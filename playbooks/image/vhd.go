package image

import (
	"encoding/binary"
	"unicode/utf16"
)

// VDI: VirtualBox's header, little-endian; offsets from qemu's vdi.c.
const (
	vdiSignatureOffset = 0x40
	vdiSignature       = 0xbeda107f
	vdiHeaderLen       = 0x190
	vdiVersion11       = 0x00010001
	vdiTypeDiff        = 4
	vdiUnallocated     = 0xfffffffe // this and above: block reads as zeros
)

func inspectVDI(s src, info *Info) error {
	info.Format = VDI
	h, err := s.read("vdi header", 0, vdiHeaderLen)
	if err != nil {
		return short(info, err)
	}
	le := binary.LittleEndian
	version, typ := le.Uint32(h[0x44:]), le.Uint32(h[0x4c:])
	offBmap, offData := uint64(le.Uint32(h[0x154:])), uint64(le.Uint32(h[0x158:]))
	sectorSize, diskSize := le.Uint32(h[0x168:]), le.Uint64(h[0x170:])
	blockSize, blocks := uint64(le.Uint32(h[0x178:])), uint64(le.Uint32(h[0x180:]))
	if version != vdiVersion11 {
		info.problemf("unsupported VDI version %d.%d (qemu reads 1.1)", version>>16, version&0xffff)
		return nil
	}
	if diskSize > 1<<62 {
		info.problemf("disk size %d is absurd", diskSize)
		return nil
	}
	info.VirtualSize = int64(diskSize)
	info.ClusterSize = int64(blockSize)
	if typ == vdiTypeDiff {
		info.BackingFile = "(parent VDI, named by UUID)"
		info.problemf("a differencing VDI: its data depends on a parent image glance does not receive; clone it into a full disk first (VBoxManage clonemedium)")
	}
	switch {
	case sectorSize != 512:
		info.problemf("sector size %d, want 512", sectorSize)
	case blockSize == 0 || blockSize&(blockSize-1) != 0:
		info.problemf("block size %d is not a power of two", blockSize)
	case diskSize > blocks*blockSize:
		info.problemf("disk size %d but the block map covers only %d bytes", diskSize, blocks*blockSize)
	case offBmap%512 != 0 || offData%512 != 0:
		info.problemf("block map (%d) or data (%d) offset is not sector-aligned", offBmap, offData)
	case !within(offBmap, blocks*4, s.size):
		info.problemf("block map (%d entries at %d) is beyond the end of the %d-byte file (truncated?)", blocks, offBmap, s.size)
	}
	if len(info.Problems) > 0 {
		info.boot(Unknown, "the header has problems")
		return nil
	}
	if blocks == 0 {
		judgeBoot(info, nil)
		return nil
	}
	b, err := s.read("vdi block map", int64(offBmap), 4)
	if err != nil {
		return short(info, err)
	}
	blk := uint64(le.Uint32(b))
	if blk >= vdiUnallocated {
		judgeBoot(info, make([]byte, min(bootLook, info.VirtualSize)))
		return nil
	}
	data, err := s.read("vdi block", int64(offData+blk*blockSize), min(bootLook, int64(blockSize)))
	if err != nil {
		return short(info, err)
	}
	judgeBoot(info, data)
	return nil
}

// VHD (qemu's "vpc"): a 512-byte big-endian footer at the end; dynamic and
// differencing disks keep a copy at 0 and a dynamic header at data_offset.
const (
	vhdFooterSize   = 512
	vhdFixed        = 2
	vhdDynamic      = 3
	vhdDiff         = 4
	vhdMaxGeometry  = 65535 * 16 * 255
	vhdMaxSectors   = 0xff000000 // qemu's limit, 2040 GiB
	vhdDynHeaderLen = 1024
	vhdUnallocated  = 0xffffffff
)

func inspectVHD(s src, info *Info) error {
	info.Format = VHD
	f, err := s.read("vhd footer", s.size-vhdFooterSize, vhdFooterSize)
	if err != nil || string(f[:8]) != "conectix" {
		if err := short(info, err); err != nil {
			return err
		}
		// Only the copy at 0 is left: the end of the file is gone. Decode
		// the copy so the user still learns what the disk was.
		info.problemf("truncated: the VHD footer is missing from the end of the file (only its copy at offset 0 is there)")
		if f, err = s.read("vhd footer copy", 0, vhdFooterSize); err != nil {
			return short(info, err)
		}
	}
	be := binary.BigEndian
	dataOffset, creator := be.Uint64(f[16:]), string(f[28:32])
	currentSize := be.Uint64(f[48:])
	cyls, heads, spt := uint64(be.Uint16(f[56:])), uint64(f[58]), uint64(f[59])
	diskType := be.Uint32(f[60:])
	if sum := vhdChecksum(f); sum != be.Uint32(f[64:]) {
		info.notef("the VHD footer checksum is wrong (qemu only warns)")
	}

	// Virtual PC sizes a disk by its CHS geometry, Hyper-V and others by
	// current_size; qemu picks by creator, as reproduced here so that our
	// size is qemu's (and so nova's).
	sectors := cyls * heads * spt
	useCHS := creator != "win " && creator != "qem2" && creator != "d2v " && creator != "CTXS" && creator != "tap\x00"
	if !useCHS || sectors == vhdMaxGeometry {
		sectors = currentSize / 512
	}
	if sectors > vhdMaxSectors {
		info.problemf("virtual size %d sectors exceeds the VHD maximum of 2040 GiB", sectors)
		return nil
	}
	info.VirtualSize = int64(sectors * 512)

	switch diskType {
	case vhdFixed:
		if want := int64(currentSize) + vhdFooterSize; s.size < want && len(info.Problems) == 0 {
			info.problemf("truncated: a fixed VHD of %d bytes needs a %d-byte file, this one has %d", currentSize, want, s.size)
		}
		if len(info.Problems) > 0 {
			info.boot(Unknown, "the file is damaged")
			return nil
		}
		data, err := s.readUpTo("vhd data", 0, min(bootLook, int64(sectors*512)))
		if err != nil {
			return short(info, err)
		}
		judgeBoot(info, data)
		return nil
	case vhdDynamic, vhdDiff:
		return inspectVHDDynamic(s, info, dataOffset, diskType == vhdDiff)
	}
	info.problemf("unknown VHD disk type %d (2 fixed, 3 dynamic, 4 differencing)", diskType)
	return nil
}

func inspectVHDDynamic(s src, info *Info, dataOffset uint64, diff bool) error {
	be := binary.BigEndian
	if dataOffset > uint64(s.size) {
		info.problemf("the VHD dynamic header at %d is beyond the end of the %d-byte file (truncated?)", dataOffset, s.size)
		return nil
	}
	d, err := s.read("vhd dynamic header", int64(dataOffset), vhdDynHeaderLen)
	if err != nil {
		return short(info, err)
	}
	if string(d[:8]) != "cxsparse" {
		info.problemf("no VHD dynamic header (cxsparse) at %d", dataOffset)
		return nil
	}
	table, entries, blockSize := be.Uint64(d[16:]), uint64(be.Uint32(d[28:])), uint64(be.Uint32(d[32:]))
	info.ClusterSize = int64(blockSize)
	if diff {
		u := make([]uint16, 256)
		for i := range u {
			u[i] = be.Uint16(d[64+2*i:])
		}
		info.BackingFile = cString([]byte(string(utf16.Decode(u))))
		if info.BackingFile == "" {
			info.BackingFile = "(parent VHD, unnamed)"
		}
	}
	switch {
	case blockSize < 512 || blockSize&(blockSize-1) != 0:
		info.problemf("VHD block size %d is not a power of two ≥ 512", blockSize)
	case entries*blockSize < uint64(info.VirtualSize):
		info.problemf("the VHD block table (%d blocks of %d bytes) is smaller than the %d-byte disk", entries, blockSize, info.VirtualSize)
	case !within(table, entries*4, s.size):
		info.problemf("the VHD block table (%d entries at %d) is beyond the end of the %d-byte file (truncated?)", entries, table, s.size)
	}
	switch {
	case len(info.Problems) > 0:
		info.boot(Unknown, "the file is damaged")
		return nil
	case diff:
		info.boot(Unknown, "a differencing disk: its first sector may be in the parent")
		return nil
	case entries == 0 || info.VirtualSize == 0:
		judgeBoot(info, nil)
		return nil
	}
	b, err := s.read("vhd block table", int64(table), 4)
	if err != nil {
		return short(info, err)
	}
	blk := uint64(be.Uint32(b))
	if blk == vhdUnallocated {
		judgeBoot(info, make([]byte, min(bootLook, info.VirtualSize)))
		return nil
	}
	// Each block starts with its sector bitmap, padded to 512 bytes.
	bitmap := (blockSize/512/8 + 511) &^ 511
	data, err := s.read("vhd block", int64(blk*512+bitmap), min(bootLook, int64(blockSize), info.VirtualSize))
	if err != nil {
		return short(info, err)
	}
	judgeBoot(info, data)
	return nil
}

// vhdChecksum is the ones' complement of the byte sum, checksum field zeroed.
func vhdChecksum(f []byte) uint32 {
	var sum uint32
	for i, c := range f[:vhdFooterSize] {
		if i < 64 || i >= 68 {
			sum += uint32(c)
		}
	}
	return ^sum
}

// VHDX: "vhdxfile" at 0, then a region table at 192 KiB pointing to the
// metadata region, whose table holds the virtual disk size. GUIDs are in
// Microsoft's mixed-endian layout on disk.
const (
	vhdxRegionTable    = 192 << 10
	vhdxMaxRegions     = 2047
	vhdxMaxMetaEntries = 2047
	vhdxMetaHasParent  = 1 << 1
)

// Identifiers from the VHDX specification, as their bytes on disk
// (TestVHDXGUIDs derives them from the spec's text form).
const (
	vhdxMetadataRegion = "\x06\xa2\x7c\x8b\x90\x47\x9a\x4b\xb8\xfe\x57\x5f\x05\x0f\x88\x6e" // 8B7CA206-4790-4B9A-B8FE-575F050F886E
	vhdxVirtualSize    = "\x24\x42\xa5\x2f\x1b\xcd\x76\x48\xb2\x11\x5d\xbe\xd8\x3b\xf4\xb8" // 2FA54224-CD1B-4876-B211-5DBED83BF4B8
	vhdxFileParams     = "\x37\x67\xa1\xca\x36\xfa\x43\x4d\xb3\xb6\x33\xf0\xaa\x44\xe7\x6b" // CAA16737-FA36-4D43-B3B6-33F0AA44E76B
)

func inspectVHDX(s src, info *Info) error {
	info.Format = VHDX
	info.boot(Unknown, "the VHDX block allocation table is not walked; convert to qcow2 to check")
	le := binary.LittleEndian
	rt, err := s.read("vhdx region table", vhdxRegionTable, 16)
	if err != nil {
		return short(info, err)
	}
	if string(rt[:4]) != "regi" {
		info.problemf("no VHDX region table at %d", vhdxRegionTable)
		return nil
	}
	n := int64(min(le.Uint32(rt[8:]), vhdxMaxRegions))
	regions, err := s.read("vhdx region table entries", vhdxRegionTable+16, n*32)
	if err != nil {
		return short(info, err)
	}
	var meta uint64
	for e := regions; len(e) >= 32; e = e[32:] {
		if string(e[:16]) == vhdxMetadataRegion {
			meta = le.Uint64(e[16:])
		}
	}
	if meta == 0 {
		info.problemf("the VHDX region table has no metadata region")
		return nil
	}
	mh, err := s.read("vhdx metadata table", int64(min(meta, 1<<50)), 32)
	if err != nil {
		return short(info, err)
	}
	if string(mh[:8]) != "metadata" {
		info.problemf("no VHDX metadata table at %d", meta)
		return nil
	}
	entries, err := s.read("vhdx metadata entries", int64(meta)+32, int64(min(le.Uint16(mh[10:]), vhdxMaxMetaEntries))*32)
	if err != nil {
		return short(info, err)
	}
	item := func(id string, n int64) ([]byte, error) {
		for e := entries; len(e) >= 32; e = e[32:] {
			if string(e[:16]) == id {
				return s.read("vhdx metadata item", int64(meta)+int64(le.Uint32(e[16:])), n)
			}
		}
		return nil, nil
	}
	size, err := item(vhdxVirtualSize, 8)
	if err != nil {
		return short(info, err)
	}
	if size == nil {
		info.problemf("the VHDX metadata has no virtual disk size")
		return nil
	}
	if v := le.Uint64(size); v > 1<<62 {
		info.problemf("virtual size %d is absurd", v)
	} else {
		info.VirtualSize = int64(v)
	}
	params, err := item(vhdxFileParams, 8)
	if err != nil {
		return short(info, err)
	}
	if params != nil {
		info.ClusterSize = int64(le.Uint32(params))
		if le.Uint32(params[4:])&vhdxMetaHasParent != 0 {
			info.BackingFile = "(parent VHDX)"
		}
	}
	return nil
}
