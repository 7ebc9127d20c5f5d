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
	"strings"

	"github.com/blakesmith/ar"
	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
)

// maxMember bounds what is read into memory from a .deb: the guest needs a
// kernel (14 MB for 6.1 cloud), a handful of modules and busybox (2 MB); a larger member
// means the package is not what we think it is.
const maxMember = 64 << 20

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
	// ar.NewReader skips the global header without looking at it.
	if magic, err := r.Peek(len(ar.GLOBAL_HEADER)); err != nil || string(magic) != ar.GLOBAL_HEADER {
		return nil, errors.New("not a Debian package (no ar magic)")
	}
	a := ar.NewReader(r)
	for {
		h, err := a.Next()
		if errors.Is(err, io.EOF) {
			return nil, errors.New("no data.tar member")
		}
		if err != nil {
			return nil, fmt.Errorf("ar header: %w", err)
		}
		// GNU ar ends names with a slash; dpkg-deb accepts both.
		name := strings.TrimSuffix(h.Name, "/")
		if strings.HasPrefix(name, "data.tar") {
			dec, err := decompressor(name, a)
			if err != nil {
				return nil, err
			}
			defer dec.Close()
			return tarExtract(dec, want)
		}
		// Next skips the rest of this member and its padding.
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
