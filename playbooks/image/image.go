// Package image tells what a disk image file really is before it is uploaded
// to glance: its format (read from the bytes, never from the file name), its
// virtual size, the qcow2 header in detail, the damage that would make nova
// fail to boot it, and a guess at whether it boots at all. Users confuse iso,
// img, raw and qcow2; `stacklab image inspect` and the playbook engine's
// upload step use this package to refuse such files with a reason and a fix.
//
// Every read is bounded by the size the caller declares, and no length read
// from the file is trusted for an allocation: Inspect is fed arbitrary files
// and is fuzzed.
package image

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/stacklab/stacklab/internal/safefile"
)

// Format is a disk image format, named as glance's disk_format names it.
type Format string

const (
	QCOW2 Format = "qcow2"
	Raw   Format = "raw"
	ISO   Format = "iso"
	VMDK  Format = "vmdk"
	VDI   Format = "vdi"
	VHD   Format = "vhd"
	VHDX  Format = "vhdx"
)

// QemuName is the name qemu-img's -f/-O options take for the format; only
// VHD differs ("vpc"), and qemu has no ISO driver: an ISO is read as raw.
func (f Format) QemuName() string {
	switch f {
	case VHD:
		return "vpc"
	case ISO:
		return "raw"
	}
	return string(f)
}

// Verdict is the answer to "will this boot?", which can only be guessed from
// the first sectors the guest sees.
type Verdict string

const (
	// Likely: a boot sector, a GPT or an El Torito catalog is present.
	Likely Verdict = "likely"
	// No: the guest's first sectors are empty or hold no boot structure.
	No Verdict = "no"
	// Unknown: the first sectors could not be seen (compressed, encrypted,
	// in a backing file, or the format is not walked by this package).
	Unknown Verdict = "unknown"
)

// Info is what Inspect found. It marshals to the JSON of
// `stacklab image inspect --output json`.
type Info struct {
	// Path is set by InspectFile only.
	Path   string `json:"path,omitempty"`
	Format Format `json:"format"`
	// QemuFormat is the -f name to give qemu-img for this file.
	QemuFormat string `json:"qemu_format"`
	// VirtualSize is the size of the disk the guest sees, in bytes, computed
	// the way qemu does; 0 when the header is too damaged to tell.
	VirtualSize int64 `json:"virtual_size"`
	// FileSize is the length of the file itself (what glance stores), not
	// the allocated blocks qemu-img calls actual-size.
	FileSize int64 `json:"file_size"`
	// ClusterSize is the allocation unit (qcow2 cluster, vmdk grain, vdi or
	// vhd block), 0 when the format has none.
	ClusterSize   int64  `json:"cluster_size,omitempty"`
	BackingFile   string `json:"backing_file,omitempty"`
	BackingFormat string `json:"backing_format,omitempty"`
	// Encryption names the scheme ("luks", "aes") when the data is encrypted.
	Encryption string `json:"encryption,omitempty"`
	// Compression is the codec of compressed clusters/grains, when the
	// format records one (qcow2: zlib or zstd; streamOptimized vmdk: deflate).
	Compression string     `json:"compression,omitempty"`
	QCOW2       *QCOW2Info `json:"qcow2,omitempty"`
	VMDK        *VMDKInfo  `json:"vmdk,omitempty"`
	// Problems are defects that make the file unusable as uploaded
	// (truncation, corruption, offsets outside the file, unknown features);
	// CheckUpload refuses any file that has one.
	Problems []string `json:"problems"`
	// Notes are facts worth knowing that do not make the file unusable.
	Notes           []string `json:"notes"`
	BootableVerdict Verdict  `json:"bootable_verdict"`
	BootableReason  string   `json:"bootable_reason"`
}

func (i *Info) problemf(format string, args ...any) {
	i.Problems = append(i.Problems, fmt.Sprintf(format, args...))
}

func (i *Info) notef(format string, args ...any) {
	i.Notes = append(i.Notes, fmt.Sprintf(format, args...))
}

func (i *Info) boot(v Verdict, reason string) {
	i.BootableVerdict, i.BootableReason = v, reason
}

// Inspect identifies the image held by r, whose length is size, and decodes
// what matters for uploading it. Damage in the file is reported in
// Info.Problems; the error is only for failing reads (r itself erring).
// Inspect never reads at or beyond size.
func Inspect(r io.ReaderAt, size int64) (Info, error) {
	if size < 0 {
		return Info{}, fmt.Errorf("inspect image: negative size %d", size)
	}
	s := src{r: r, size: size}
	info := Info{FileSize: size, Problems: []string{}, Notes: []string{}}
	var err error
	// Order matters: a dynamic VHD carries a copy of its footer at 0 and an
	// ISO may carry a hybrid MBR, so the specific magics are tried before
	// raw's heuristics. The probes only look at fixed offsets.
	switch {
	case s.has(0, qcow2Magic):
		err = inspectQCOW2(s, &info)
	case s.has(0, "vhdxfile"):
		err = inspectVHDX(s, &info)
	case s.has(0, "conectix"), size >= vhdFooterSize && s.has(size-vhdFooterSize, "conectix"):
		err = inspectVHD(s, &info)
	case s.has(0, "KDMV"):
		err = inspectVMDKSparse(s, &info)
	case s.hasLE32(vdiSignatureOffset, vdiSignature):
		err = inspectVDI(s, &info)
	case isVMDKDescriptor(s):
		err = inspectVMDKDescriptor(s, &info)
	case isISO(s):
		err = inspectISO(s, &info)
	default:
		err = inspectRaw(s, &info)
	}
	if err != nil {
		return Info{}, fmt.Errorf("inspect %s image: %w", info.Format, err)
	}
	info.QemuFormat = info.Format.QemuName()
	if info.BootableVerdict == "" {
		// Parsers stop at the first damage they cannot read past.
		info.boot(Unknown, "the file is damaged; the guest's first sectors were not read")
	}
	return info, nil
}

// InspectFile inspects the image at path. Block devices work too: their size
// is found by seeking to the end. Anything else that is not a regular file
// (a FIFO, /dev/zero, a directory) is refused before it is read.
func InspectFile(path string) (Info, error) {
	return inspectOpened(path, safefile.OpenRegularOrBlock)
}

// InspectRegularFile is InspectFile for a file that is to be uploaded, which
// must be a regular file: the upload streams it and checks the bytes sent
// against its stat size.
func InspectRegularFile(path string) (Info, error) {
	return inspectOpened(path, safefile.OpenRegular)
}

func inspectOpened(path string, open func(string) (*os.File, error)) (Info, error) {
	f, err := open(path)
	if err != nil {
		return Info{}, fmt.Errorf("inspect image: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return Info{}, fmt.Errorf("inspect image: %w", err)
	}
	size := st.Size()
	if !st.Mode().IsRegular() {
		if size, err = f.Seek(0, io.SeekEnd); err != nil {
			return Info{}, fmt.Errorf("inspect image %s: find size: %w", path, err)
		}
	}
	info, err := Inspect(f, size)
	if err != nil {
		return Info{}, fmt.Errorf("%s: %w", path, err)
	}
	info.Path = path
	return info, nil
}

// ShortError says a structure the header points to lies (partly) beyond
// the end of the file. Parsers turn it into a "truncated" problem; any other
// error from a read is an I/O failure and aborts Inspect.
type ShortError struct {
	What     string
	Off, Len int64
	Size     int64
}

func (e *ShortError) Error() string {
	return fmt.Sprintf("%s at bytes %d..%d is beyond the end of the %d-byte file (truncated?)",
		e.What, e.Off, e.Off+e.Len, e.Size)
}

// maxRead bounds any single read so that a hostile length field cannot make
// Inspect allocate much; every structure decoded here is smaller.
const maxRead = 1 << 20

// src is the image with its declared size; all reads go through it.
type src struct {
	r    io.ReaderAt
	size int64
}

// read returns exactly n bytes at off, a *ShortError when they are not all
// inside the file, or the reader's own error.
func (s src) read(what string, off, n int64) ([]byte, error) {
	if off < 0 || n < 0 || off > s.size || n > s.size-off {
		return nil, &ShortError{What: what, Off: off, Len: n, Size: s.size}
	}
	if n > maxRead {
		return nil, fmt.Errorf("read %s: %d bytes is more than the %d this package reads at once", what, n, maxRead)
	}
	b := make([]byte, n)
	got, err := s.r.ReadAt(b, off)
	if int64(got) == n {
		// io.ReaderAt may report io.EOF with a full read at the very end.
		return b, nil
	}
	if err == nil || errors.Is(err, io.EOF) {
		// The file is shorter than the caller said: treat as truncation.
		return nil, &ShortError{What: what, Off: off, Len: n, Size: off + int64(got)}
	}
	return nil, fmt.Errorf("read %s at %d: %w", what, off, err)
}

// readUpTo returns up to n bytes at off, fewer when the file ends first.
func (s src) readUpTo(what string, off, n int64) ([]byte, error) {
	if off >= s.size || off < 0 {
		return nil, nil
	}
	return s.read(what, off, min(n, s.size-off))
}

// has reports whether magic is at off. Read errors count as "no": the
// parser chosen later reads again and reports them.
func (s src) has(off int64, magic string) bool {
	b, err := s.read("magic", off, int64(len(magic)))
	return err == nil && string(b) == magic
}

func (s src) hasLE32(off int64, v uint32) bool {
	b, err := s.read("magic", off, 4)
	return err == nil && binary.LittleEndian.Uint32(b) == v
}

// short reports whether err is a truncation, and records it as a problem.
// It returns the error unchanged when it is an I/O failure, so parsers can
// write `if err := short(info, err); err != nil { return err }`.
func short(info *Info, err error) error {
	var se *ShortError
	if errors.As(err, &se) {
		info.problemf("truncated: %s", se.Error())
		return nil
	}
	return err
}
