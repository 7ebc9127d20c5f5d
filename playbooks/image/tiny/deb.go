package tiny

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strconv"
	"strings"

	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
)

// maxMember bounds what is read into memory from a .deb: the guest needs a
// kernel (14 MB for 6.1 cloud), a handful of modules and busybox (2 MB); a larger member
// means the package is not what we think it is.
const maxMember = 64 << 20

// arMember is one file of an ar archive (the container of a .deb).
type arMember struct {
	Name string
	Size int64
}

// arNext reads the next ar member header from r, which must be positioned
// at a header (after the global "!<arch>\n" magic). io.EOF means no more.
// The format is 60-byte ASCII headers, data padded to an even length; a
// hand-written reader avoids a dependency for ~30 lines.
func arNext(r *bufio.Reader) (arMember, error) {
	var hdr [60]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		if errors.Is(err, io.EOF) {
			return arMember{}, io.EOF
		}
		return arMember{}, fmt.Errorf("ar header: %w", err)
	}
	if hdr[58] != '`' || hdr[59] != '\n' {
		return arMember{}, errors.New("ar header: bad terminator")
	}
	name := strings.TrimRight(strings.TrimSpace(string(hdr[0:16])), "/")
	size, err := strconv.ParseInt(strings.TrimSpace(string(hdr[48:58])), 10, 64)
	if err != nil || size < 0 {
		return arMember{}, fmt.Errorf("ar header of %q: bad size %q", name, hdr[48:58])
	}
	return arMember{Name: name, Size: size}, nil
}

// debExtract opens the .deb at debPath and returns the regular files of its
// data archive for which want(path) is true, keyed by their path without
// the leading "./" (e.g. "boot/vmlinuz-6.1.0-56-cloud-amd64"). Only the
// data archive is decoded: control files are not needed.
func debExtract(debPath string, want func(name string) bool) (files map[string][]byte, err error) {
	f, err := os.Open(debPath)
	if err != nil {
		return nil, fmt.Errorf("open package: %w", err)
	}
	defer f.Close()
	files, err = debExtractFrom(f, want)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", debPath, err)
	}
	return files, nil
}

func debExtractFrom(rd io.Reader, want func(name string) bool) (map[string][]byte, error) {
	r := bufio.NewReaderSize(rd, 1<<16)
	magic := make([]byte, 8)
	if _, err := io.ReadFull(r, magic); err != nil || string(magic) != "!<arch>\n" {
		return nil, errors.New("not a Debian package (no ar magic)")
	}
	for {
		m, err := arNext(r)
		if errors.Is(err, io.EOF) {
			return nil, errors.New("no data.tar member")
		}
		if err != nil {
			return nil, err
		}
		body := io.LimitReader(r, m.Size)
		if strings.HasPrefix(m.Name, "data.tar") {
			dec, err := decompressor(m.Name, body)
			if err != nil {
				return nil, err
			}
			defer dec.Close()
			return tarExtract(dec, want)
		}
		// Skip the member and its padding byte.
		if _, err := io.Copy(io.Discard, io.LimitReader(r, m.Size+m.Size%2)); err != nil {
			return nil, fmt.Errorf("skip %s: %w", m.Name, err)
		}
	}
}

// decompressor picks the codec by the member's suffix, as dpkg-deb does.
func decompressor(name string, r io.Reader) (io.ReadCloser, error) {
	switch path.Ext(name) {
	case ".xz":
		x, err := xz.NewReader(r)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		return io.NopCloser(x), nil
	case ".zst":
		z, err := zstd.NewReader(r)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		return z.IOReadCloser(), nil
	case ".gz":
		g, err := gzip.NewReader(r)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		return g, nil
	case ".tar":
		return io.NopCloser(r), nil
	}
	return nil, fmt.Errorf("%s: unsupported compression", name)
}

func tarExtract(r io.Reader, want func(string) bool) (map[string][]byte, error) {
	out := map[string][]byte{}
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("data.tar: %w", err)
		}
		name := strings.TrimPrefix(path.Clean(h.Name), "./")
		if h.Typeflag != tar.TypeReg || !want(name) {
			continue
		}
		if h.Size > maxMember {
			return nil, fmt.Errorf("data.tar: %s is %d bytes, more than the %d this builder accepts", name, h.Size, maxMember)
		}
		var b bytes.Buffer
		if _, err := io.Copy(&b, tr); err != nil {
			return nil, fmt.Errorf("data.tar: %s: %w", name, err)
		}
		out[name] = b.Bytes()
	}
}
