package image

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stacklab/stacklab/internal/safefile"
)

func be32b(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }
func be64b(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }

// patch returns a copy of b with p written at off.
func patch(b []byte, off int, p []byte) []byte {
	out := bytes.Clone(b)
	copy(out[off:], p)
	return out
}

// qcow2Opts describe a small, valid qcow2 made in Go: cluster 0 header,
// cluster 1 refcount table, cluster 2 L1 table, cluster 3 the backing name.
type qcow2Opts struct {
	version     uint32
	clusterBits uint32
	size        uint64
	incompat    uint64
	backing     string
	extensions  [][]byte // raw extension records (type, length, padded data)
	compression byte
	headerLen   uint32
}

func qcow2Image(o qcow2Opts) []byte {
	if o.version == 0 {
		o.version = 3
	}
	if o.clusterBits == 0 {
		o.clusterBits = 9
	}
	if o.size == 0 {
		o.size = 1 << 20
	}
	cs := 1 << o.clusterBits
	b := make([]byte, 4*cs)
	be := binary.BigEndian
	copy(b, qcow2Magic)
	be.PutUint32(b[4:], o.version)
	be.PutUint32(b[20:], o.clusterBits)
	be.PutUint64(b[24:], o.size)
	l2Cover := uint64(cs) / 8 * uint64(cs)
	be.PutUint32(b[36:], uint32((o.size+l2Cover-1)/l2Cover))
	be.PutUint64(b[40:], uint64(2*cs))
	be.PutUint64(b[48:], uint64(cs))
	be.PutUint32(b[56:], 1)
	off := qcow2V2HeaderLen
	if o.version == 3 {
		be.PutUint64(b[72:], o.incompat)
		be.PutUint32(b[96:], 4)
		hl := o.headerLen
		if hl == 0 {
			hl = 112
		}
		be.PutUint32(b[100:], hl)
		b[104] = o.compression
		off = int(hl)
	}
	for _, e := range o.extensions {
		off += copy(b[off:], e)
	}
	if o.backing != "" {
		be.PutUint64(b[8:], uint64(3*cs))
		be.PutUint32(b[16:], uint32(len(o.backing)))
		copy(b[3*cs:], o.backing)
	}
	return b
}

func qcow2Ext(typ uint32, data []byte) []byte {
	e := binary.BigEndian.AppendUint32(nil, typ)
	e = binary.BigEndian.AppendUint32(e, uint32(len(data)))
	e = append(e, data...)
	for len(e)%8 != 0 {
		e = append(e, 0)
	}
	return e
}

func featureName(kind, bit byte, name string) []byte {
	e := make([]byte, 48)
	e[0], e[1] = kind, bit
	copy(e[2:], name)
	return e
}

type isoOpts struct {
	boot      bool
	hybridMBR bool
	// volumeBlocks overrides the volume size the PVD declares.
	volumeBlocks uint32
}

// isoImage is a minimal ISO 9660 image: system area, PVD, optionally an El
// Torito boot record, the set terminator, and one data sector.
func isoImage(o isoOpts) []byte {
	const sector = 2048
	b := make([]byte, 16*sector)
	desc := func(typ byte) []byte {
		d := make([]byte, sector)
		d[0] = typ
		copy(d[1:], "CD001")
		d[6] = 1
		return d
	}
	pvd := desc(1)
	copy(pvd[40:], "STACKLAB_TEST")
	blocks := uint32(16 + 4)
	if o.volumeBlocks != 0 {
		blocks = o.volumeBlocks
	}
	binary.LittleEndian.PutUint32(pvd[80:], blocks)
	binary.BigEndian.PutUint32(pvd[84:], blocks)
	binary.LittleEndian.PutUint16(pvd[128:], sector)
	binary.BigEndian.PutUint16(pvd[130:], sector)
	b = append(b, pvd...)
	if o.boot {
		br := desc(0)
		copy(br[7:], "EL TORITO SPECIFICATION")
		b = append(b, br...)
	}
	b = append(b, desc(255)...)
	for len(b) < 20*sector {
		b = append(b, make([]byte, sector)...)
	}
	if o.hybridMBR {
		b[510], b[511] = 0x55, 0xaa
	}
	return b
}

func inspectBytes(t *testing.T, b []byte) Info {
	t.Helper()
	info, err := Inspect(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatalf("Inspect: %v", err)
	}
	return info
}

func TestInspectQCOW2Header(t *testing.T) {
	featureTable := qcow2Ext(extFeatureNames, append(featureName(0, 7, "frobnicated"), featureName(1, 0, "lazy refcounts")...))
	cases := []struct {
		name    string
		image   []byte
		check   func(t *testing.T, i Info)
		problem string // "" means none expected
	}{
		{name: "v3 minimal", image: qcow2Image(qcow2Opts{}), check: func(t *testing.T, i Info) {
			q := i.QCOW2
			if q.Version != 3 || q.Compat != "1.1" || q.ClusterBits != 9 || i.ClusterSize != 512 || q.HeaderLength != 112 || q.RefcountOrder != 4 {
				t.Errorf("header %+v", q)
			}
			if i.VirtualSize != 1<<20 || i.BootableVerdict != No {
				t.Errorf("size %d boot %s", i.VirtualSize, i.BootableVerdict)
			}
		}},
		{name: "v2 implies refcount order and header length", image: qcow2Image(qcow2Opts{version: 2}), check: func(t *testing.T, i Info) {
			if q := i.QCOW2; q.Compat != "0.10" || q.RefcountOrder != 4 || q.HeaderLength != 72 || q.CompressionType != "zlib" {
				t.Errorf("header %+v", q)
			}
		}},
		{name: "backing file and format", image: qcow2Image(qcow2Opts{backing: "base.qcow2", extensions: [][]byte{qcow2Ext(extBackingFormat, []byte("qcow2"))}}), check: func(t *testing.T, i Info) {
			if i.BackingFile != "base.qcow2" || i.BackingFormat != "qcow2" || i.BootableVerdict != Unknown {
				t.Errorf("backing %q format %q boot %s", i.BackingFile, i.BackingFormat, i.BootableVerdict)
			}
		}},
		{name: "zstd", image: qcow2Image(qcow2Opts{compression: 1, incompat: incompatCompressionType}), check: func(t *testing.T, i Info) {
			if i.QCOW2.CompressionType != "zstd" || !has(i.QCOW2.Features, "compression_type") {
				t.Errorf("compression %q features %v", i.QCOW2.CompressionType, i.QCOW2.Features)
			}
		}},
		{name: "dirty is a note, not a problem", image: qcow2Image(qcow2Opts{incompat: incompatDirty}), check: func(t *testing.T, i Info) {
			if !hasSub(i.Notes, "dirty") {
				t.Errorf("notes %q", i.Notes)
			}
		}},
		{name: "zstd without its feature bit", image: qcow2Image(qcow2Opts{compression: 1}), problem: "incompatible bit 3 (compression type) is clear"},
		{name: "compression bit without zstd", image: qcow2Image(qcow2Opts{incompat: incompatCompressionType}), problem: "compression_type is zlib"},
		{name: "unknown compression type", image: qcow2Image(qcow2Opts{compression: 7, incompat: incompatCompressionType}), problem: "unknown compression_type 7"},
		{name: "truncated v2 header", image: qcow2Image(qcow2Opts{})[:71], problem: "truncated"},
		{name: "truncated v3 header", image: qcow2Image(qcow2Opts{})[:100], problem: "truncated"},
		{name: "truncated extended header", image: qcow2Image(qcow2Opts{})[:108], problem: "truncated"},
		{name: "cut before the tables", image: qcow2Image(qcow2Opts{})[:600], problem: "beyond the end of the 600-byte file"},
		{name: "cluster bits too small", image: qcow2Image(qcow2Opts{clusterBits: 8}), problem: "cluster_bits 8 is outside 9..21"},
		{name: "cluster bits too big", image: patch(qcow2Image(qcow2Opts{}), 20, be32b(22)), problem: "cluster_bits 22"},
		{name: "unknown version", image: patch(qcow2Image(qcow2Opts{}), 4, be32b(1)), problem: "unsupported qcow2 version 1"},
		{name: "header longer than a cluster", image: qcow2Image(qcow2Opts{headerLen: 1024}), problem: "exceeds the 512-byte cluster"},
		{name: "header too short", image: qcow2Image(qcow2Opts{headerLen: 96}), problem: "shorter than the 104 bytes"},
		{name: "unknown incompatible bit named by the table", image: qcow2Image(qcow2Opts{incompat: 1 << 7, extensions: [][]byte{featureTable}}),
			problem: `unknown incompatible feature bits 7 ("frobnicated")`},
		{name: "corrupt", image: qcow2Image(qcow2Opts{incompat: incompatCorrupt}), problem: "marked corrupt"},
		{name: "external data file", image: qcow2Image(qcow2Opts{incompat: incompatExternalData, extensions: [][]byte{qcow2Ext(extDataFile, []byte("data.raw"))}}),
			problem: "external data file data.raw"},
		{name: "L1 table too small for the disk", image: patch(qcow2Image(qcow2Opts{size: 1 << 40}), 36, be32b(1)), problem: "L1 table has 1 entries but a 1099511627776-byte disk needs 33554432"},
		{name: "L1 beyond the file", image: patch(qcow2Image(qcow2Opts{}), 40, be64b(1<<30)), problem: "L1 table (32 entries at 1073741824) is beyond the end"},
		{name: "L1 misaligned", image: patch(qcow2Image(qcow2Opts{}), 40, be64b(1000)), problem: "not aligned"},
		{name: "refcount table beyond the file", image: patch(qcow2Image(qcow2Opts{}), 56, be32b(100)), problem: "refcount table (100 clusters at 512)"},
		{name: "no refcount table", image: patch(qcow2Image(qcow2Opts{}), 56, be32b(0)), problem: "refcount table has no clusters"},
		{name: "backing name beyond the file", image: patch(qcow2Image(qcow2Opts{backing: "b"}), 8, be64b(1<<20)), problem: "backing file name"},
		{name: "backing name past the first cluster", image: patch(patch(qcow2Image(qcow2Opts{backing: "b"}), 8, be64b(500)), 16, be32b(13)), problem: "backing file name (13 bytes at 500) must be 1..12 bytes"},
		{name: "backing name too long", image: patch(qcow2Image(qcow2Opts{backing: "b"}), 16, be32b(5000)), problem: "backing file name (5000 bytes"},
		{name: "extension past the cluster", image: qcow2Image(qcow2Opts{extensions: [][]byte{be64b(uint64(extBitmaps)<<32 | 4096)}}), problem: "runs past the first cluster"},
		{name: "unknown crypt method", image: patch(qcow2Image(qcow2Opts{}), 32, be32b(9)), problem: "unknown crypt_method 9"},
		{name: "refcount order", image: patch(qcow2Image(qcow2Opts{}), 96, be32b(7)), problem: "refcount_order 7"},
		{name: "snapshot table beyond", image: patch(patch(qcow2Image(qcow2Opts{}), 60, be32b(1)), 64, be64b(1<<20)), problem: "snapshot table"},
		{name: "huge virtual size", image: patch(qcow2Image(qcow2Opts{}), 24, be64b(1<<63)), problem: "does not fit in 63 bits"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			i := inspectBytes(t, tc.image)
			if i.Format != QCOW2 || i.QCOW2 == nil {
				t.Fatalf("format %s", i.Format)
			}
			switch {
			case tc.problem == "" && len(i.Problems) > 0:
				t.Errorf("unexpected problems %q", i.Problems)
			case tc.problem != "" && !hasSub(i.Problems, tc.problem):
				t.Errorf("problems %q, want one containing %q", i.Problems, tc.problem)
			}
			if tc.check != nil {
				tc.check(t, i)
			}
		})
	}
}

func TestInspectOtherFormats(t *testing.T) {
	gz := []byte("\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03")
	tarball := make([]byte, 1024)
	copy(tarball[257:], "ustar\x0000")
	ext4 := make([]byte, 8192)
	ext4[1080], ext4[1081] = 0x53, 0xef
	gpt := make([]byte, 8192)
	copy(gpt[512:], "EFI PART")
	cases := []struct {
		name    string
		image   []byte
		format  Format
		boot    Verdict
		size    int64
		problem string
		note    string
		backing string
	}{
		{name: "iso with el torito", image: isoImage(isoOpts{boot: true}), format: ISO, boot: Likely, size: 20 * 2048, note: "--disk-format iso"},
		{name: "data iso", image: isoImage(isoOpts{}), format: ISO, boot: No},
		{name: "hybrid iso is still an iso", image: isoImage(isoOpts{boot: true, hybridMBR: true}), format: ISO, boot: Likely, note: "hybrid ISO"},
		{name: "iso cut short", image: isoImage(isoOpts{volumeBlocks: 1000}), format: ISO, problem: "the ISO volume is 2048000 bytes but the file has 40960"},
		{name: "iso cut inside its descriptors", image: isoImage(isoOpts{})[:0x8000+100], format: ISO, problem: "truncated"},
		{name: "empty file", image: nil, format: Raw, boot: No, problem: "the file is empty"},
		{name: "gzip is not a disk", image: gz, format: Raw, problem: "gzip-compressed, not a disk image: unpack it first (gunzip FILE)"},
		{name: "ova is a tar", image: tarball, format: Raw, problem: "tar archive"},
		{name: "filesystem image", image: ext4, format: Raw, boot: No, size: 8192},
		{name: "gpt disk", image: gpt, format: Raw, boot: Likely, note: "GPT"},
		{name: "odd size raw", image: make([]byte, 1000), format: Raw, boot: No, note: "not a multiple of 512"},
		{name: "vmdk descriptor", image: []byte("# Disk DescriptorFile\nversion=1\nparentCID=ffffffff\ncreateType=\"twoGbMaxExtentFlat\"\nRW 4192256 FLAT \"a-f001.vmdk\" 0\nRW 2048 FLAT \"a-f002.vmdk\" 0\n"),
			format: VMDK, boot: Unknown, size: (4192256 + 2048) * 512, problem: `the data is in "a-f002.vmdk"`},
		{name: "vmdk delta descriptor has a parent", image: []byte("# Disk DescriptorFile\nparentCID=12345678\nparentFileNameHint=\"base.vmdk\"\ncreateType=\"monolithicSparse\"\n"),
			format: VMDK, boot: Unknown, backing: "base.vmdk"},
		{name: "vmdk sparse mangled by ftp ascii", image: vmdkSparse(t, "\n \n\n"), format: VMDK, problem: "text mode"},
		{name: "vmdk sparse", image: vmdkSparse(t, "\n \r\n"), format: VMDK, boot: No, size: 100 * 512},
		{name: "vdi cut in the header", image: patch(make([]byte, 0x100), 0x40, []byte{0x7f, 0x10, 0xda, 0xbe}), format: VDI, problem: "truncated"},
		{name: "vhdx without region table", image: []byte("vhdxfile" + strings.Repeat("\x00", 100)), format: VHDX, problem: "truncated"},
		{name: "vhd footer copy only", image: append([]byte("conectix"), make([]byte, 600)...), format: VHD, problem: "footer is missing"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			i := inspectBytes(t, tc.image)
			if i.Format != tc.format {
				t.Errorf("format %s, want %s", i.Format, tc.format)
			}
			if tc.boot != "" && i.BootableVerdict != tc.boot {
				t.Errorf("bootable %s (%s), want %s", i.BootableVerdict, i.BootableReason, tc.boot)
			}
			if tc.size != 0 && i.VirtualSize != tc.size {
				t.Errorf("virtual size %d, want %d", i.VirtualSize, tc.size)
			}
			switch {
			case tc.problem == "" && len(i.Problems) > 0:
				t.Errorf("unexpected problems %q", i.Problems)
			case tc.problem != "" && !hasSub(i.Problems, tc.problem):
				t.Errorf("problems %q, want one containing %q", i.Problems, tc.problem)
			}
			if i.BackingFile != tc.backing {
				t.Errorf("backing file %q, want %q", i.BackingFile, tc.backing)
			}
			if tc.note != "" && !hasSub(i.Notes, tc.note) {
				t.Errorf("notes %q, want one containing %q", i.Notes, tc.note)
			}
		})
	}
}

// vmdkSparse is a monolithicSparse header with the given newline check bytes,
// an empty grain directory, 100 sectors of capacity.
func vmdkSparse(t testing.TB, nl string) []byte {
	t.Helper()
	b := make([]byte, 4096)
	le := binary.LittleEndian
	copy(b, "KDMV")
	le.PutUint32(b[4:], 1)
	le.PutUint32(b[8:], vmdkFlagNLDetect)
	le.PutUint64(b[12:], 100)
	le.PutUint64(b[20:], 128)
	le.PutUint32(b[44:], 512)
	le.PutUint64(b[56:], 2) // grain directory in sector 2, all zero
	copy(b[73:], nl)
	return b
}

// failingReader fails every read, as a dying disk would.
type failingReader struct{}

func (failingReader) ReadAt([]byte, int64) (int, error) { return 0, errors.New("input/output error") }

// shortReader holds fewer bytes than the caller claims.
type shortReader struct{ b []byte }

func (r shortReader) ReadAt(p []byte, off int64) (int, error) {
	if off >= int64(len(r.b)) {
		return 0, io.EOF
	}
	n := copy(p, r.b[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func TestInspectReaderErrors(t *testing.T) {
	if _, err := Inspect(failingReader{}, 1<<20); err == nil || !strings.Contains(err.Error(), "input/output error") {
		t.Errorf("an I/O error must fail Inspect with its cause, got %v", err)
	}
	if _, err := Inspect(bytes.NewReader(nil), -1); err == nil {
		t.Error("a negative size must be refused")
	}
	// A file that shrank after stat is truncation, not an I/O failure.
	img := qcow2Image(qcow2Opts{})
	i, err := Inspect(shortReader{img[:80]}, int64(len(img)))
	if err != nil {
		t.Fatal(err)
	}
	if !hasSub(i.Problems, "truncated") {
		t.Errorf("problems %q, want truncation", i.Problems)
	}
}

func TestVHDXGUIDs(t *testing.T) {
	for want, got := range map[string]string{
		"8B7CA206-4790-4B9A-B8FE-575F050F886E": vhdxMetadataRegion,
		"2FA54224-CD1B-4876-B211-5DBED83BF4B8": vhdxVirtualSize,
		"CAA16737-FA36-4D43-B3B6-33F0AA44E76B": vhdxFileParams,
	} {
		u, err := hex.DecodeString(strings.ReplaceAll(want, "-", ""))
		if err != nil {
			t.Fatal(err)
		}
		// On disk the first three fields are little-endian.
		le := []byte{u[3], u[2], u[1], u[0], u[5], u[4], u[7], u[6]}
		if got != string(append(le, u[8:]...)) {
			t.Errorf("GUID %s: constant %x", want, got)
		}
	}
}

// A FIFO would block open(2) and /dev/zero would pass for an endless raw
// disk: both, and a directory, are refused with their path, at once.
func TestInspectFileRefusesNonRegular(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "disk.img")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	paths := []string{fifo, dir}
	if _, err := os.Stat("/dev/zero"); err == nil {
		paths = append(paths, "/dev/zero")
	}
	for _, path := range paths {
		for name, inspect := range map[string]func(string) (Info, error){"InspectFile": InspectFile, "InspectRegularFile": InspectRegularFile} {
			done := make(chan error, 1)
			go func() { _, err := inspect(path); done <- err }()
			select {
			case err := <-done:
				if !errors.Is(err, safefile.ErrNotRegular) || !strings.Contains(err.Error(), path) {
					t.Errorf("%s(%s) = %v, want ErrNotRegular naming the path", name, path, err)
				}
			case <-time.After(10 * time.Second):
				t.Fatalf("%s(%s) still blocked after 10s", name, path)
			}
		}
	}
}
