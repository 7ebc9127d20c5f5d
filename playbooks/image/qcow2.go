package image

import (
	"bytes"
	"compress/flate"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"math/bits"
	"strings"
)

// The layout follows qemu's docs/interop/qcow2.txt; the limits are the ones
// qemu's qcow2_do_open enforces, so a file we accept is one qemu opens.
const (
	qcow2Magic         = "QFI\xfb"
	qcow2V2HeaderLen   = 72
	qcow2V3HeaderLen   = 104
	qcow2MinClusterBit = 9
	qcow2MaxClusterBit = 21
	// qemu refuses backing file names longer than this.
	qcow2MaxBackingName = 1023
	qcow2MaxRefcountOrd = 6

	// Incompatible feature bits.
	incompatDirty           = 1 << 0
	incompatCorrupt         = 1 << 1
	incompatExternalData    = 1 << 2
	incompatCompressionType = 1 << 3
	incompatExtendedL2      = 1 << 4
	incompatKnown           = 1<<5 - 1

	// Header extension types.
	extEnd           = 0
	extBackingFormat = 0xe2792aca
	extFeatureNames  = 0x6803f857
	extBitmaps       = 0x23852875
	extCryptoHeader  = 0x0537be77
	extDataFile      = 0x44415441

	// Bits of L1/L2 entries.
	l2Compressed   = 1 << 62
	l2ZeroFlag     = 1 << 0
	l2OffsetMask   = 0x00fffffffffffe00
	qcow2MaxExtent = 64 // extensions walked; qemu writes at most a handful
)

// QCOW2Info is the decoded qcow2 header. Field names follow the spec so a
// reader can check them against docs/interop/qcow2.txt.
type QCOW2Info struct {
	Version uint32 `json:"version"`
	// Compat is the name qemu-img uses for the version: "0.10" or "1.1".
	Compat                string           `json:"compat"`
	BackingFileOffset     uint64           `json:"backing_file_offset"`
	BackingFileSize       uint32           `json:"backing_file_size"`
	ClusterBits           uint32           `json:"cluster_bits"`
	Size                  uint64           `json:"size"`
	CryptMethod           uint32           `json:"crypt_method"`
	L1Size                uint32           `json:"l1_size"`
	L1TableOffset         uint64           `json:"l1_table_offset"`
	RefcountTableOffset   uint64           `json:"refcount_table_offset"`
	RefcountTableClusters uint32           `json:"refcount_table_clusters"`
	NbSnapshots           uint32           `json:"nb_snapshots"`
	SnapshotsOffset       uint64           `json:"snapshots_offset"`
	IncompatibleFeatures  uint64           `json:"incompatible_features"`
	CompatibleFeatures    uint64           `json:"compatible_features"`
	AutoclearFeatures     uint64           `json:"autoclear_features"`
	RefcountOrder         uint32           `json:"refcount_order"`
	HeaderLength          uint32           `json:"header_length"`
	CompressionType       string           `json:"compression_type"`
	Features              []string         `json:"features"`
	Extensions            []QCOW2Extension `json:"extensions,omitempty"`
	// FeatureNames is the header's own feature name table, which names
	// bits this package may not know.
	FeatureNames []FeatureName `json:"feature_names,omitempty"`
	// DataFile is the external data file, when the data is not in this file.
	DataFile string `json:"data_file,omitempty"`
}

// QCOW2Extension is one header extension as found.
type QCOW2Extension struct {
	Type   uint32 `json:"type"`
	Name   string `json:"name"`
	Length uint32 `json:"length"`
}

// FeatureName is one entry of the feature name table extension.
type FeatureName struct {
	Kind string `json:"kind"` // incompatible, compatible, autoclear
	Bit  uint8  `json:"bit"`
	Name string `json:"name"`
}

// qcow2ExtName names the header extensions this package decodes.
func qcow2ExtName(typ uint32) (string, bool) {
	switch typ {
	case extBackingFormat:
		return "backing_format", true
	case extFeatureNames:
		return "feature_names", true
	case extBitmaps:
		return "bitmaps", true
	case extCryptoHeader:
		return "crypto_header", true
	case extDataFile:
		return "data_file", true
	}
	return "unknown", false
}

func inspectQCOW2(s src, info *Info) error {
	info.Format = QCOW2
	q := &QCOW2Info{Features: []string{}}
	info.QCOW2 = q
	h, err := s.read("qcow2 header", 0, qcow2V2HeaderLen)
	if err != nil {
		return short(info, err)
	}
	be := binary.BigEndian
	q.Version = be.Uint32(h[4:])
	q.BackingFileOffset = be.Uint64(h[8:])
	q.BackingFileSize = be.Uint32(h[16:])
	q.ClusterBits = be.Uint32(h[20:])
	q.Size = be.Uint64(h[24:])
	q.CryptMethod = be.Uint32(h[32:])
	q.L1Size = be.Uint32(h[36:])
	q.L1TableOffset = be.Uint64(h[40:])
	q.RefcountTableOffset = be.Uint64(h[48:])
	q.RefcountTableClusters = be.Uint32(h[56:])
	q.NbSnapshots = be.Uint32(h[60:])
	q.SnapshotsOffset = be.Uint64(h[64:])
	// Version 2 has no more fields; these are the values the spec implies.
	q.RefcountOrder, q.HeaderLength, q.CompressionType = 4, qcow2V2HeaderLen, "zlib"

	if q.Size > math.MaxInt64 {
		info.problemf("virtual size %d does not fit in 63 bits", q.Size)
	} else {
		info.VirtualSize = int64(q.Size)
	}

	switch q.Version {
	case 2:
		q.Compat = "0.10"
	case 3:
		q.Compat = "1.1"
		h3, err := s.read("qcow2 v3 header", 0, qcow2V3HeaderLen)
		if err != nil {
			return short(info, err)
		}
		q.IncompatibleFeatures = be.Uint64(h3[72:])
		q.CompatibleFeatures = be.Uint64(h3[80:])
		q.AutoclearFeatures = be.Uint64(h3[88:])
		q.RefcountOrder = be.Uint32(h3[96:])
		q.HeaderLength = be.Uint32(h3[100:])
	default:
		// The fields past the magic mean nothing in a version we do not know.
		info.problemf("unsupported qcow2 version %d (qemu knows 2 and 3)", q.Version)
		return nil
	}

	clusterOK := q.ClusterBits >= qcow2MinClusterBit && q.ClusterBits <= qcow2MaxClusterBit
	if !clusterOK {
		info.problemf("cluster_bits %d is outside %d..%d", q.ClusterBits, qcow2MinClusterBit, qcow2MaxClusterBit)
		return nil // every other offset check depends on the cluster size
	}
	cs := uint64(1) << q.ClusterBits
	info.ClusterSize = int64(cs)

	if q.Version == 3 {
		if q.HeaderLength < qcow2V3HeaderLen {
			info.problemf("header_length %d is shorter than the %d bytes of a v3 header", q.HeaderLength, qcow2V3HeaderLen)
			return nil
		}
		if uint64(q.HeaderLength) > cs {
			info.problemf("header_length %d exceeds the %d-byte cluster", q.HeaderLength, cs)
			return nil
		}
		if q.HeaderLength > qcow2V3HeaderLen {
			// Read the whole declared header: a file cut inside it is truncated.
			hx, err := s.read("qcow2 header", 0, int64(q.HeaderLength))
			if err != nil {
				return short(info, err)
			}
			switch ct := hx[104]; ct {
			case 0:
			case 1:
				q.CompressionType = "zstd"
			default:
				q.CompressionType = fmt.Sprintf("unknown(%d)", ct)
				info.problemf("unknown compression_type %d (0 is zlib, 1 is zstd)", ct)
			}
		}
		if q.CompressionType != "zlib" && q.IncompatibleFeatures&incompatCompressionType == 0 {
			info.problemf("compression_type is %s but incompatible bit 3 (compression type) is clear", q.CompressionType)
		}
		if q.CompressionType == "zlib" && q.IncompatibleFeatures&incompatCompressionType != 0 {
			info.problemf("incompatible bit 3 (compression type) is set but compression_type is zlib")
		}
	}
	info.Compression = q.CompressionType

	decodeFeatures(q)
	if err := readExtensions(s, info, q, cs); err != nil {
		return err
	}
	if unknown := q.IncompatibleFeatures &^ incompatKnown; unknown != 0 {
		info.problemf("unknown incompatible feature bits %s: qemu refuses to open the image", q.describeBits("incompatible", unknown))
	}
	if q.IncompatibleFeatures&incompatCorrupt != 0 {
		info.problemf("the image is marked corrupt (incompatible bit 1): check and repair it with `qemu-img check -r all FILE` first")
	}
	if q.IncompatibleFeatures&incompatDirty != 0 {
		info.notef("dirty bit set: the image was not closed cleanly; `qemu-img check -r all FILE` rebuilds its refcounts")
	}
	if q.IncompatibleFeatures&incompatExternalData != 0 {
		name := q.DataFile
		if name == "" {
			name = "(not named in the header)"
		}
		info.problemf("guest data lives in an external data file %s, which glance does not upload with this file", name)
	}
	if q.RefcountOrder > qcow2MaxRefcountOrd {
		info.problemf("refcount_order %d is above %d", q.RefcountOrder, qcow2MaxRefcountOrd)
	}
	switch q.CryptMethod {
	case 0:
	case 1:
		info.Encryption = "aes"
	case 2:
		info.Encryption = "luks"
	default:
		info.Encryption = fmt.Sprintf("unknown(%d)", q.CryptMethod)
		info.problemf("unknown crypt_method %d", q.CryptMethod)
	}

	checkQCOW2Tables(s, info, q, cs)
	if q.BackingFileOffset != 0 {
		if err := readBackingName(s, info, q, cs); err != nil {
			return err
		}
	}
	return qcow2Boot(s, info, q, cs)
}

func decodeFeatures(q *QCOW2Info) {
	names := []struct {
		set  uint64
		bit  uint64
		name string
	}{
		{q.IncompatibleFeatures, incompatDirty, "dirty"},
		{q.IncompatibleFeatures, incompatCorrupt, "corrupt"},
		{q.IncompatibleFeatures, incompatExternalData, "external_data_file"},
		{q.IncompatibleFeatures, incompatCompressionType, "compression_type"},
		{q.IncompatibleFeatures, incompatExtendedL2, "extended_l2"},
		{q.CompatibleFeatures, 1 << 0, "lazy_refcounts"},
		{q.AutoclearFeatures, 1 << 0, "bitmaps"},
		{q.AutoclearFeatures, 1 << 1, "raw_external_data"},
	}
	for _, n := range names {
		if n.set&n.bit != 0 {
			q.Features = append(q.Features, n.name)
		}
	}
}

// describeBits names each set bit, using the image's own feature name table
// when it has an entry, so an error says "bit 5 (foo)" rather than "bit 5".
func (q *QCOW2Info) describeBits(kind string, set uint64) string {
	var parts []string
	for set != 0 {
		b := bits.TrailingZeros64(set)
		set &^= 1 << b
		part := fmt.Sprintf("%d", b)
		for _, fn := range q.FeatureNames {
			if fn.Kind == kind && int(fn.Bit) == b {
				part += fmt.Sprintf(" (%q)", fn.Name)
			}
		}
		parts = append(parts, part)
	}
	return strings.Join(parts, ", ")
}

// readExtensions walks the header extensions, which qemu requires to end
// inside the first cluster.
func readExtensions(s src, info *Info, q *QCOW2Info, cs uint64) error {
	off := uint64(q.HeaderLength)
	end := cs
	for range qcow2MaxExtent {
		if off+8 > end {
			// Old images may fill the cluster with no end marker: fine.
			return nil
		}
		if off+8 > uint64(s.size) {
			// The file ends here; the table checks report it if that is
			// too early.
			return nil
		}
		h, err := s.read("qcow2 header extension", int64(off), 8)
		if err != nil {
			return short(info, err)
		}
		typ, n := binary.BigEndian.Uint32(h), binary.BigEndian.Uint32(h[4:])
		if typ == extEnd {
			return nil
		}
		name, ok := qcow2ExtName(typ)
		q.Extensions = append(q.Extensions, QCOW2Extension{Type: typ, Name: name, Length: n})
		dataOff := off + 8
		if uint64(n) > end-dataOff {
			info.problemf("header extension %#x (%d bytes at %d) runs past the first cluster", typ, n, dataOff)
			return nil
		}
		if ok {
			data, err := s.read("qcow2 header extension "+name, int64(dataOff), int64(n))
			if err != nil {
				return short(info, err)
			}
			decodeExtension(info, q, typ, data)
		}
		// Extension data is padded to a multiple of 8 bytes.
		off = dataOff + (uint64(n)+7)&^7
	}
	info.notef("more than %d header extensions; the rest were not read", qcow2MaxExtent)
	return nil
}

func decodeExtension(info *Info, q *QCOW2Info, typ uint32, data []byte) {
	switch typ {
	case extBackingFormat:
		info.BackingFormat = cString(data)
	case extDataFile:
		q.DataFile = cString(data)
	case extFeatureNames:
		kinds := []string{"incompatible", "compatible", "autoclear"}
		for e := data; len(e) >= 48; e = e[48:] {
			kind := fmt.Sprintf("type%d", e[0])
			if int(e[0]) < len(kinds) {
				kind = kinds[e[0]]
			}
			q.FeatureNames = append(q.FeatureNames, FeatureName{Kind: kind, Bit: e[1], Name: cString(e[2:48])})
		}
	case extCryptoHeader:
		if len(data) < 16 {
			info.problemf("crypto header extension is %d bytes, want 16", len(data))
			return
		}
		off, n := binary.BigEndian.Uint64(data), binary.BigEndian.Uint64(data[8:])
		if !within(off, n, info.FileSize) {
			info.problemf("LUKS header (%d bytes at %d) is beyond the end of the %d-byte file", n, off, info.FileSize)
		}
	}
}

// checkQCOW2Tables checks that the metadata tables the header points to are
// cluster-aligned and inside the file, as qemu does on open.
func checkQCOW2Tables(s src, info *Info, q *QCOW2Info, cs uint64) {
	if q.L1TableOffset%cs != 0 {
		info.problemf("l1_table_offset %d is not aligned to the %d-byte cluster", q.L1TableOffset, cs)
	}
	if !within(q.L1TableOffset, uint64(q.L1Size)*8, s.size) {
		info.problemf("L1 table (%d entries at %d) is beyond the end of the %d-byte file (truncated?)", q.L1Size, q.L1TableOffset, s.size)
	}
	// Each L1 entry maps one L2 table of cs/entrySize clusters.
	entry := uint64(8)
	if q.IncompatibleFeatures&incompatExtendedL2 != 0 {
		entry = 16
	}
	perL1 := cs / entry * cs
	if need := (q.Size + perL1 - 1) / perL1; q.Size > 0 && uint64(q.L1Size) < need {
		info.problemf("L1 table has %d entries but a %d-byte disk needs %d", q.L1Size, q.Size, need)
	}
	if q.RefcountTableOffset%cs != 0 {
		info.problemf("refcount_table_offset %d is not aligned to the %d-byte cluster", q.RefcountTableOffset, cs)
	}
	if q.RefcountTableClusters == 0 {
		info.problemf("refcount table has no clusters")
	}
	if !within(q.RefcountTableOffset, uint64(q.RefcountTableClusters)*cs, s.size) {
		info.problemf("refcount table (%d clusters at %d) is beyond the end of the %d-byte file (truncated?)", q.RefcountTableClusters, q.RefcountTableOffset, s.size)
	}
	if q.NbSnapshots > 0 {
		info.notef("%d internal snapshot(s): glance keeps them, nova boots the current state", q.NbSnapshots)
		if q.SnapshotsOffset%cs != 0 || !within(q.SnapshotsOffset, 1, s.size) {
			info.problemf("snapshot table offset %d is unaligned or beyond the end of the %d-byte file", q.SnapshotsOffset, s.size)
		}
	}
}

func readBackingName(s src, info *Info, q *QCOW2Info, cs uint64) error {
	n := uint64(q.BackingFileSize)
	// qemu's limit: 1023 bytes, and no further than the end of the first
	// cluster when the name starts inside it (qemu writes it there).
	limit := uint64(qcow2MaxBackingName)
	if q.BackingFileOffset < cs {
		limit = min(limit, cs-q.BackingFileOffset)
	}
	if n == 0 || n > limit {
		info.problemf("backing file name (%d bytes at %d) must be 1..%d bytes", n, q.BackingFileOffset, limit)
		return nil
	}
	name, err := s.read("qcow2 backing file name", int64(q.BackingFileOffset), int64(n))
	if err != nil {
		return short(info, err)
	}
	info.BackingFile = string(name)
	return nil
}

// qcow2Boot finds the guest's first sectors by walking L1 → L2 for guest
// cluster 0 (and the next ones while the clusters are smaller than a boot
// look needs), then judges them.
func qcow2Boot(s src, info *Info, q *QCOW2Info, cs uint64) error {
	switch {
	case len(info.Problems) > 0:
		info.boot(Unknown, "the header has problems; the guest's first sector was not read")
		return nil
	case info.Encryption != "":
		info.boot(Unknown, "the data is encrypted")
		return nil
	case q.IncompatibleFeatures&incompatExternalData != 0:
		info.boot(Unknown, "the data is in an external file")
		return nil
	}
	// At most bootLook/512 iterations: each cluster gives ≥ 512 bytes.
	want := min(uint64(bootLook), q.Size)
	first := make([]byte, 0, want)
	for gc := uint64(0); uint64(len(first)) < want; gc++ {
		data, verdict, err := qcow2GuestCluster(s, q, cs, gc)
		if err != nil {
			return short(info, err)
		}
		if verdict != "" {
			info.boot(Unknown, verdict)
			return nil
		}
		if data == nil {
			data = make([]byte, min(cs, bootLook)) // unallocated or zero: reads as zeros
		}
		first = append(first, data[:min(uint64(len(data)), want-uint64(len(first)))]...)
	}
	judgeBoot(info, first)
	return nil
}

// qcow2GuestCluster returns up to bootLook bytes of guest cluster gc: nil
// data for a cluster that reads as zeros, or a reason it cannot be read.
func qcow2GuestCluster(s src, q *QCOW2Info, cs, gc uint64) ([]byte, string, error) {
	entry := uint64(8)
	if q.IncompatibleFeatures&incompatExtendedL2 != 0 {
		entry = 16
	}
	l2Entries := cs / entry
	l1i, l2i := gc/l2Entries, gc%l2Entries
	if l1i >= uint64(q.L1Size) {
		return nil, "", nil
	}
	b, err := s.read("qcow2 L1 entry", int64(q.L1TableOffset+l1i*8), 8)
	if err != nil {
		return nil, "", err
	}
	l2Off := binary.BigEndian.Uint64(b) & l2OffsetMask
	if l2Off == 0 {
		return q.unallocated()
	}
	if b, err = s.read("qcow2 L2 entry", int64(l2Off+l2i*entry), 8); err != nil {
		return nil, "", err
	}
	e := binary.BigEndian.Uint64(b)
	if e&l2Compressed != 0 {
		if q.CompressionType != "zlib" {
			return nil, "guest cluster 0 is " + q.CompressionType + "-compressed, which this package does not decode", nil
		}
		data, err := inflateCluster(s, q, cs, e)
		if err != nil {
			return nil, "", err
		}
		if data == nil {
			return nil, "guest cluster 0 is compressed and does not inflate", nil
		}
		return data, "", nil
	}
	if e&l2ZeroFlag != 0 && q.Version == 3 {
		return nil, "", nil
	}
	host := e & l2OffsetMask
	if host == 0 {
		return q.unallocated()
	}
	data, err := s.read("qcow2 data cluster", int64(host), int64(min(cs, bootLook)))
	return data, "", err
}

func (q *QCOW2Info) unallocated() ([]byte, string, error) {
	if q.BackingFileOffset != 0 {
		return nil, "the guest's first sector comes from the backing file", nil
	}
	return nil, "", nil
}

// inflateCluster decodes a zlib-compressed cluster (raw deflate, as qemu
// writes it) far enough for the boot look. The descriptor layout is in the
// qcow2 spec: x = 62 - (cluster_bits - 8) offset bits, then a sector count.
func inflateCluster(s src, q *QCOW2Info, cs, e uint64) ([]byte, error) {
	x := 62 - (q.ClusterBits - 8)
	host := e & (1<<x - 1)
	sectors := (e>>x)&(1<<(q.ClusterBits-8)-1) + 1
	// The descriptor's length may overshoot the end of the file (qemu
	// tolerates that for the last cluster); the deflate stream ends itself.
	n := min(sectors*512-host%512, uint64(s.size)-min(host, uint64(s.size)), 2*cs, maxRead)
	comp, err := s.read("qcow2 compressed cluster", int64(host), int64(n))
	if err != nil {
		return nil, err
	}
	out := make([]byte, min(cs, bootLook))
	got, err := io.ReadFull(flate.NewReader(bytes.NewReader(comp)), out)
	if err != nil && got == 0 {
		// Undecodable data is a verdict for the caller, not an I/O failure.
		return nil, nil
	}
	return out[:got], nil
}

// within reports whether [off, off+n) lies inside a file of the given size,
// without overflowing on hostile values.
func within(off, n uint64, size int64) bool {
	return size >= 0 && off <= uint64(size) && n <= uint64(size)-off
}

func cString(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}
