package tiny

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"io/fs"
	"path"
	"sort"
	"strings"
)

// entry is one file of the initramfs.
type entry struct {
	Path string // without leading slash
	Mode fs.FileMode
	Data []byte // file content, or the target of a symlink
	// Major and Minor of a character device (Mode has fs.ModeCharDevice).
	Major, Minor uint32
}

// cpio mode bits (see <sys/stat.h>); newc stores the whole st_mode.
const (
	cpioDir  = 0o040000
	cpioReg  = 0o100000
	cpioLink = 0o120000
	cpioChr  = 0o020000
)

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
	var ino uint32 = 1
	for _, n := range names {
		e := all[n]
		if err := writeCpioEntry(gz, ino, e); err != nil {
			return fmt.Errorf("initramfs %s: %w", n, err)
		}
		ino++
	}
	if err := writeCpioEntry(gz, ino, entry{Path: "TRAILER!!!"}); err != nil {
		return fmt.Errorf("initramfs trailer: %w", err)
	}
	if err := gz.Close(); err != nil {
		return fmt.Errorf("initramfs gzip: %w", err)
	}
	return nil
}

func cpioMode(m fs.FileMode) uint32 {
	perm := uint32(m.Perm())
	switch {
	case m&fs.ModeDir != 0:
		return cpioDir | perm
	case m&fs.ModeCharDevice != 0:
		return cpioChr | perm
	case m&fs.ModeSymlink != 0:
		return cpioLink | 0o777
	case m.IsRegular():
		return cpioReg | perm
	}
	return perm // the trailer
}

// writeCpioEntry writes one "070701" header, the NUL-terminated name and the
// data, each padded to 4 bytes.
func writeCpioEntry(w io.Writer, ino uint32, e entry) error {
	mode := cpioMode(e.Mode)
	nlink := uint32(1)
	if e.Mode&fs.ModeDir != 0 {
		nlink = 2
	}
	if e.Path == "TRAILER!!!" {
		ino, nlink = 0, 1
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X",
		ino, mode, 0, 0, nlink, 0, len(e.Data), 0, 0, e.Major, e.Minor, len(e.Path)+1, 0)
	b.WriteString(e.Path)
	b.WriteByte(0)
	pad4(&b)
	b.Write(e.Data)
	pad4(&b)
	_, err := w.Write(b.Bytes())
	return err
}

func pad4(b *bytes.Buffer) {
	for b.Len()%4 != 0 {
		b.WriteByte(0)
	}
}
