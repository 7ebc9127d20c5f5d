package image

import (
	"bytes"
	"encoding/json"
	"io"
	"reflect"
	"testing"
)

// boundedReader fails the test on any read outside [0, size): Inspect must
// never trust a header's offsets without checking them.
type boundedReader struct {
	t    *testing.T
	data []byte
	size int64
}

func (r boundedReader) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 || off+int64(len(p)) > r.size {
		r.t.Fatalf("read of %d bytes at %d: beyond the declared size %d", len(p), off, r.size)
	}
	return copy(p, r.data[off:]), nil
}

func FuzzInspect(f *testing.F) {
	// More seeds, cut from real qemu-img images, are in testdata/fuzz.
	f.Add(qcow2Image(qcow2Opts{}))
	f.Add(qcow2Image(qcow2Opts{version: 2}))
	f.Add(qcow2Image(qcow2Opts{backing: "base.qcow2", extensions: [][]byte{qcow2Ext(extBackingFormat, []byte("qcow2"))}}))
	f.Add(qcow2Image(qcow2Opts{compression: 1, incompat: incompatCompressionType | incompatExtendedL2}))
	f.Add(isoImage(isoOpts{boot: true}))
	f.Add(vmdkSparse(f, "\n \r\n"))
	f.Add([]byte("# Disk DescriptorFile\ncreateType=\"monolithicFlat\"\nRW 2048 FLAT \"x-flat.vmdk\" 0\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		size := int64(len(data))
		info, err := Inspect(boundedReader{t: t, data: data, size: size}, size)
		if err != nil {
			// Only the reader can fail, and this one does not.
			t.Fatalf("Inspect: %v", err)
		}
		if info.FileSize != size || info.Format == "" || info.QemuFormat != info.Format.QemuName() {
			t.Fatalf("bad basics: %+v", info)
		}
		if info.Problems == nil || info.Notes == nil || info.BootableVerdict == "" {
			t.Fatalf("lists must be non-nil and a verdict given: %+v", info)
		}
		if info.VirtualSize < 0 {
			t.Fatalf("negative virtual size %d", info.VirtualSize)
		}
		if q := info.QCOW2; q != nil {
			checkQCOW2Invariants(t, info, q, data)
		}
		if (info.Format == QCOW2) != (info.QCOW2 != nil) {
			t.Fatalf("format %s with qcow2 details %v", info.Format, info.QCOW2 != nil)
		}
		// Inspect is pure: the same bytes give the same answer.
		again, err := Inspect(bytes.NewReader(data), size)
		if err != nil || !reflect.DeepEqual(info, again) {
			t.Fatalf("second Inspect differs: %v\n%+v\n%+v", err, info, again)
		}
		if err := info.WriteText(io.Discard); err != nil {
			t.Fatal(err)
		}
		b, err := json.Marshal(info)
		if err != nil {
			t.Fatal(err)
		}
		var back Info
		if err := json.Unmarshal(b, &back); err != nil || back.Format != info.Format || back.VirtualSize != info.VirtualSize {
			t.Fatalf("JSON round trip: %v", err)
		}
		// Anything damaged must be refused.
		if len(info.Problems) > 0 && CheckUpload(info, "", 0) == nil {
			t.Fatalf("CheckUpload accepted a file with problems %q", info.Problems)
		}
	})
}

// checkQCOW2Invariants: what a qcow2 without problems promises a caller.
func checkQCOW2Invariants(t *testing.T, info Info, q *QCOW2Info, data []byte) {
	t.Helper()
	if string(data[:4]) != qcow2Magic {
		t.Fatalf("qcow2 without the magic")
	}
	if q.Version != 2 && q.Version != 3 && len(info.Problems) == 0 {
		t.Fatalf("version %d accepted", q.Version)
	}
	if len(info.Problems) > 0 {
		return
	}
	size := uint64(len(data))
	cs := uint64(1) << q.ClusterBits
	switch {
	case q.ClusterBits < 9 || q.ClusterBits > 21:
		t.Fatalf("cluster_bits %d accepted", q.ClusterBits)
	case info.ClusterSize != int64(cs):
		t.Fatalf("cluster size %d for %d bits", info.ClusterSize, q.ClusterBits)
	case uint64(info.VirtualSize) != q.Size:
		t.Fatalf("virtual size %d, header %d", info.VirtualSize, q.Size)
	case q.Version == 3 && (q.HeaderLength < 104 || uint64(q.HeaderLength) > cs):
		t.Fatalf("header_length %d accepted", q.HeaderLength)
	case q.IncompatibleFeatures&^incompatKnown != 0 || q.IncompatibleFeatures&incompatCorrupt != 0:
		t.Fatalf("incompatible features %#x accepted", q.IncompatibleFeatures)
	case q.L1TableOffset%cs != 0 || !within(q.L1TableOffset, uint64(q.L1Size)*8, int64(size)):
		t.Fatalf("L1 table %d×8 at %d accepted in a %d-byte file", q.L1Size, q.L1TableOffset, size)
	case q.RefcountTableOffset%cs != 0 || !within(q.RefcountTableOffset, uint64(q.RefcountTableClusters)*cs, int64(size)):
		t.Fatalf("refcount table accepted outside the file")
	case q.RefcountOrder > 6:
		t.Fatalf("refcount_order %d accepted", q.RefcountOrder)
	case q.CompressionType != "zlib" && q.CompressionType != "zstd":
		t.Fatalf("compression type %q accepted", q.CompressionType)
	}
	if q.BackingFileOffset != 0 {
		n := uint64(len(info.BackingFile))
		if n == 0 || n > 1023 || n != uint64(q.BackingFileSize) || !within(q.BackingFileOffset, n, int64(size)) ||
			info.BackingFile != string(data[q.BackingFileOffset:q.BackingFileOffset+n]) {
			t.Fatalf("backing file %q does not match the header", info.BackingFile)
		}
		if CheckUpload(info, "qcow2", 0) == nil {
			t.Fatalf("CheckUpload accepted an image with a backing file")
		}
	}
}
