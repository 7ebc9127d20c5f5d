package tiny

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
)

// elfWithModinfo builds the smallest ELF64 file debug/elf accepts with a
// .modinfo section holding the given NUL-separated strings, standing for a
// kernel module.
func elfWithModinfo(modinfo ...string) []byte {
	info := []byte(strings.Join(modinfo, "\x00") + "\x00")
	shstr := []byte("\x00.modinfo\x00.shstrtab\x00")
	const ehsize, shentsize = 64, 64
	infoOff := ehsize
	strOff := infoOff + len(info)
	shOff := (strOff + len(shstr) + 7) &^ 7
	b := make([]byte, shOff+3*shentsize)
	copy(b, "\x7fELF")
	b[4], b[5], b[6] = 2, 1, 1 // 64-bit, little endian, version 1
	le := binary.LittleEndian
	le.PutUint16(b[16:], 1)  // ET_REL, as a .ko is
	le.PutUint16(b[18:], 62) // EM_X86_64
	le.PutUint32(b[20:], 1)
	le.PutUint64(b[40:], uint64(shOff))
	le.PutUint16(b[52:], ehsize)
	le.PutUint16(b[58:], shentsize)
	le.PutUint16(b[60:], 3) // section count
	le.PutUint16(b[62:], 2) // index of .shstrtab
	copy(b[infoOff:], info)
	copy(b[strOff:], shstr)
	sh := func(i int, name, typ uint32, off, size int) {
		s := b[shOff+i*shentsize:]
		le.PutUint32(s[0:], name)
		le.PutUint32(s[4:], typ)
		le.PutUint64(s[24:], uint64(off))
		le.PutUint64(s[32:], uint64(size))
		le.PutUint64(s[48:], 1)
	}
	sh(1, 1, 1, infoOff, len(info))  // .modinfo, SHT_PROGBITS
	sh(2, 10, 3, strOff, len(shstr)) // .shstrtab, SHT_STRTAB
	return b
}

// debBytes builds a .deb (ar of debian-binary, control.tar.gz and
// data.tar.<comp>) holding files.
func debBytes(t testing.TB, comp string, files map[string][]byte) []byte {
	t.Helper()
	var tb bytes.Buffer
	tw := tar.NewWriter(&tb)
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if err := tw.WriteHeader(&tar.Header{Name: "./" + n, Mode: 0o644, Size: int64(len(files[n])), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(files[n]); err != nil {
			t.Fatal(err)
		}
	}
	// A symlink, as packages have, must be ignored.
	if err := tw.WriteHeader(&tar.Header{Name: "./vmlinuz", Linkname: "boot/x", Typeflag: tar.TypeSymlink}); err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	var data bytes.Buffer
	switch comp {
	case "xz":
		w, err := xz.NewWriter(&data)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = w.Write(tb.Bytes())
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	case "zst":
		w, err := zstd.NewWriter(&data)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = w.Write(tb.Bytes())
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	case "gz":
		w := gzip.NewWriter(&data)
		_, _ = w.Write(tb.Bytes())
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	case "":
		data = tb
	}
	var ar bytes.Buffer
	ar.WriteString("!<arch>\n")
	member := func(name string, body []byte) {
		fmt.Fprintf(&ar, "%-16s%-12d%-6d%-6d%-8s%-10d`\n", name, 0, 0, 0, "100644", len(body))
		ar.Write(body)
		if len(body)%2 == 1 {
			ar.WriteByte('\n')
		}
	}
	member("debian-binary", []byte("2.0\n"))
	member("control.tar.gz", []byte("odd")) // odd length: the padding must be skipped
	dataName := "data.tar"
	if comp != "" {
		dataName += "." + comp
	}
	member(dataName, data.Bytes())
	return ar.Bytes()
}

func writeFile(t testing.TB, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}
