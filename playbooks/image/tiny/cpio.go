package tiny

import (
	"compress/gzip"
	"fmt"
	"io"
	"io/fs"
	"path"
	"sort"
	"strings"

	"github.com/u-root/u-root/pkg/cpio"
)

// entry is one file of the initramfs.
type entry struct {
	Path string // without leading slash
	Mode fs.FileMode
	Data []byte // file content, or the target of a symlink
	// Major and Minor of a character device (Mode has fs.ModeCharDevice).
	Major, Minor uint32
}

// writeInitramfs writes entries as a gzip-compressed newc cpio archive, the
// format the kernel unpacks into its rootfs. Parent directories are added
// when missing and entries are sorted, so the archive only depends on its
// content (no time stamps: mtime is 0) and directories precede their files.
func writeInitramfs(w io.Writer, entries []entry) error {
	all := map[string]entry{}
	for _, e := range entries {
		p := strings.Trim(path.Clean(e.Path), "/")
		e.Path = p
		all[p] = e
		for d := path.Dir(p); d != "." && d != "/"; d = path.Dir(d) {
			if _, ok := all[d]; !ok {
				all[d] = entry{Path: d, Mode: fs.ModeDir | 0o755}
			}
		}
	}
	names := make([]string, 0, len(all))
	for n := range all {
		names = append(names, n)
	}
	sort.Strings(names)

	gz, err := gzip.NewWriterLevel(w, gzip.BestCompression)
	if err != nil {
		return fmt.Errorf("initramfs gzip: %w", err)
	}
	cw := cpio.Newc.Writer(gz)
	for i, n := range names {
		if err := cw.WriteRecord(cpioRecord(uint64(i+1), all[n])); err != nil {
			return fmt.Errorf("initramfs %s: %w", n, err)
		}
	}
	// cpio.TrailerRecord has nlink 0; GNU cpio and the kernel's
	// gen_init_cpio write 1.
	if err := cw.WriteRecord(cpio.StaticRecord(nil, cpio.Info{Name: cpio.Trailer, NLink: 1})); err != nil {
		return fmt.Errorf("initramfs trailer: %w", err)
	}
	if err := gz.Close(); err != nil {
		return fmt.Errorf("initramfs gzip: %w", err)
	}
	return nil
}

// cpioRecord turns e into a newc record owned by root with mtime 0 and the
// inode number ino.
func cpioRecord(ino uint64, e entry) cpio.Record {
	perm := uint64(e.Mode.Perm())
	var r cpio.Record
	switch {
	case e.Mode&fs.ModeDir != 0:
		r = cpio.Directory(e.Path, perm)
		r.NLink = 2
	case e.Mode&fs.ModeCharDevice != 0:
		r = cpio.CharDev(e.Path, perm, uint64(e.Major), uint64(e.Minor))
	case e.Mode&fs.ModeSymlink != 0:
		r = cpio.Symlink(e.Path, string(e.Data))
	default:
		r = cpio.StaticRecord(e.Data, cpio.Info{Name: e.Path, Mode: cpio.S_IFREG | perm})
	}
	r.Ino = ino
	if r.NLink == 0 {
		r.NLink = 1
	}
	return r
}
