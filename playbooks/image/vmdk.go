package image

import (
	"bufio"
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"io"
	"strconv"
	"strings"
)

// VMDK layouts from VMware's "Virtual Disk Format 5.0" and qemu's vmdk.c.
const (
	vmdkGDAtEnd        = 0xffffffffffffffff
	vmdkFlagNLDetect   = 1 << 0
	vmdkFlagCompressed = 1 << 16
	vmdkMaxDescriptor  = 64 << 10
	vmdkNoParent       = "ffffffff"
)

// VMDKInfo is what the sparse header and the descriptor say.
type VMDKInfo struct {
	Version    uint32 `json:"version,omitempty"`
	CreateType string `json:"create_type"`
	// Extents are the descriptor's extent lines, e.g. `RW 10240 FLAT "x-flat.vmdk" 0`.
	Extents []string `json:"extents"`
}

// vmdkHeader is the sparse extent header (little-endian), after the magic.
type vmdkHeader struct {
	version, flags       uint32
	capacity, grainSize  uint64
	descOffset, descSize uint64
	gtesPerGT            uint32
	gdOffset             uint64
	checkBytes           []byte
	compressAlgorithm    uint16
}

func parseVMDKHeader(b []byte) vmdkHeader {
	le := binary.LittleEndian
	return vmdkHeader{
		version: le.Uint32(b[4:]), flags: le.Uint32(b[8:]),
		capacity: le.Uint64(b[12:]), grainSize: le.Uint64(b[20:]),
		descOffset: le.Uint64(b[28:]), descSize: le.Uint64(b[36:]),
		gtesPerGT: le.Uint32(b[44:]), gdOffset: le.Uint64(b[56:]),
		checkBytes: b[73:77], compressAlgorithm: le.Uint16(b[77:]),
	}
}

func inspectVMDKSparse(s src, info *Info) error {
	info.Format = VMDK
	v := &VMDKInfo{Extents: []string{}}
	info.VMDK = v
	b, err := s.read("vmdk header", 0, 512)
	if err != nil {
		return short(info, err)
	}
	h := parseVMDKHeader(b)
	v.Version = h.version
	if h.version == 0 || h.version > 3 {
		info.problemf("unsupported VMDK sparse version %d", h.version)
		return nil
	}
	if h.flags&vmdkFlagNLDetect != 0 && string(h.checkBytes) != "\n \r\n" {
		info.problemf("the newline check bytes are altered: the file was transferred in text mode (FTP ASCII) and is corrupt")
		return nil
	}
	if h.descOffset != 0 {
		d, err := s.read("vmdk embedded descriptor", int64(min(h.descOffset, 1<<40)*512), int64(min(h.descSize*512, vmdkMaxDescriptor)))
		if err != nil {
			if err := short(info, err); err != nil {
				return err
			}
		} else {
			parseVMDKDescriptor(info, d)
		}
	}
	if h.gdOffset == vmdkGDAtEnd {
		// streamOptimized: the real header is a footer 1024 bytes from the end.
		f, err := s.read("vmdk footer", s.size-1024, 512)
		if err != nil {
			return short(info, err)
		}
		if string(f[:4]) != "KDMV" {
			info.problemf("streamOptimized VMDK has no footer: truncated or not finalised")
			return nil
		}
		h = parseVMDKHeader(f)
	}
	if h.capacity > 1<<54 { // 8 EiB in sectors would overflow bytes
		info.problemf("capacity %d sectors is absurd", h.capacity)
		return nil
	}
	info.VirtualSize = int64(h.capacity) * 512
	if h.grainSize < 8 || h.grainSize > 1<<16 || h.grainSize&(h.grainSize-1) != 0 {
		info.problemf("grain size %d sectors is not a power of two in 8..65536", h.grainSize)
		return nil
	}
	info.ClusterSize = int64(h.grainSize) * 512
	if h.flags&vmdkFlagCompressed != 0 {
		info.Compression = "deflate"
	}
	if !within(h.gdOffset*512, 4, s.size) || h.gdOffset > 1<<50 {
		info.problemf("grain directory at sector %d is beyond the end of the %d-byte file (truncated?)", h.gdOffset, s.size)
		return nil
	}
	return vmdkBoot(s, info, h)
}

// vmdkBoot reads grain 0 through the grain directory and table.
func vmdkBoot(s src, info *Info, h vmdkHeader) error {
	if info.BackingFile != "" {
		info.boot(Unknown, "a delta disk: its first sector may be in the parent")
		return nil
	}
	le := binary.LittleEndian
	b, err := s.read("vmdk grain directory", int64(h.gdOffset*512), 4)
	if err != nil {
		return short(info, err)
	}
	gt := uint64(le.Uint32(b))
	var grain uint64
	if gt != 0 {
		if b, err = s.read("vmdk grain table", int64(gt*512), 4); err != nil {
			return short(info, err)
		}
		grain = uint64(le.Uint32(b))
	}
	if grain <= 1 { // 0 unallocated, 1 zeroed grain
		judgeBoot(info, make([]byte, min(uint64(bootLook), uint64(info.VirtualSize))))
		return nil
	}
	if h.flags&vmdkFlagCompressed == 0 {
		data, err := s.readUpTo("vmdk grain", int64(grain*512), min(bootLook, int64(h.grainSize*512)))
		if err != nil {
			return short(info, err)
		}
		judgeBoot(info, data)
		return nil
	}
	// A compressed grain: lba (8), size (4), then a zlib stream.
	m, err := s.read("vmdk grain marker", int64(grain*512), 12)
	if err != nil {
		return short(info, err)
	}
	n := int64(le.Uint32(m[8:]))
	comp, err := s.read("vmdk compressed grain", int64(grain*512)+12, min(n, maxRead))
	if err != nil {
		return short(info, err)
	}
	zr, err := zlib.NewReader(bytes.NewReader(comp))
	if err != nil {
		info.boot(Unknown, "grain 0 does not inflate")
		// Undecodable data is a verdict, not an I/O failure.
		return nil
	}
	out := make([]byte, bootLook)
	got, _ := io.ReadFull(zr, out)
	judgeBoot(info, out[:got])
	return nil
}

func isVMDKDescriptor(s src) bool {
	return s.has(0, "# Disk DescriptorFile")
}

// inspectVMDKDescriptor handles the text-only form: the data is in the
// extent files it names, which glance would not receive.
func inspectVMDKDescriptor(s src, info *Info) error {
	info.Format = VMDK
	info.VMDK = &VMDKInfo{Extents: []string{}}
	d, err := s.readUpTo("vmdk descriptor", 0, vmdkMaxDescriptor)
	if err != nil {
		return short(info, err)
	}
	var sectors uint64
	for _, e := range parseVMDKDescriptor(info, d) {
		sectors += e.sectors
		if e.file != "" {
			info.problemf("this is only a VMDK descriptor: the data is in %q, which glance does not receive; convert the disk into one file: qemu-img convert -f vmdk -O qcow2 FILE OUT.qcow2", e.file)
		}
	}
	info.VirtualSize = int64(min(sectors, 1<<54) * 512)
	info.boot(Unknown, "the data is in separate extent files")
	return nil
}

type vmdkExtent struct {
	sectors uint64
	file    string
}

// parseVMDKDescriptor reads createType, the parent and the extent lines.
func parseVMDKDescriptor(info *Info, d []byte) []vmdkExtent {
	var extents []vmdkExtent
	parent, parentCID := "", vmdkNoParent
	sc := bufio.NewScanner(strings.NewReader(cString(d)))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if k, v, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(line, "#") {
			v = strings.Trim(strings.TrimSpace(v), `"`)
			switch strings.TrimSpace(k) {
			case "createType":
				info.VMDK.CreateType = v
			case "parentCID":
				parentCID = strings.ToLower(v)
			case "parentFileNameHint":
				parent = v
			}
			continue
		}
		f := strings.Fields(line)
		if len(f) < 3 || (f[0] != "RW" && f[0] != "RDONLY" && f[0] != "NOACCESS") {
			continue
		}
		info.VMDK.Extents = append(info.VMDK.Extents, line)
		n, err := strconv.ParseUint(f[1], 10, 64)
		if err != nil {
			info.problemf("extent line %q has a bad sector count", line)
			continue
		}
		e := vmdkExtent{sectors: n}
		if _, rest, ok := strings.Cut(line, `"`); ok && f[2] != "ZERO" {
			e.file, _, _ = strings.Cut(rest, `"`)
		}
		extents = append(extents, e)
	}
	if parentCID != vmdkNoParent && parent != "" {
		info.BackingFile = parent
	}
	return extents
}
