package tiny

import (
	"bytes"
	"compress/gzip"
	"io"
	"io/fs"
	"strconv"
	"testing"
)

// cpioFile is an entry decoded by readNewc, a reader written from the
// format description independently of the writer.
type cpioFile struct {
	Mode         uint32
	Major, Minor uint32
	Data         string
}

func readNewc(t *testing.T, gz []byte) ([]string, map[string]cpioFile) {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	hex := func(b []byte) uint32 {
		v, err := strconv.ParseUint(string(b), 16, 32)
		if err != nil {
			t.Fatalf("bad hex %q", b)
		}
		return uint32(v)
	}
	align := func(n int) int { return (n + 3) &^ 3 }
	var order []string
	files := map[string]cpioFile{}
	off := 0
	for {
		if off+110 > len(raw) {
			t.Fatalf("archive ends at %d without a trailer", off)
		}
		h := raw[off : off+110]
		if string(h[:6]) != "070701" {
			t.Fatalf("bad magic %q at %d", h[:6], off)
		}
		field := func(i int) uint32 { return hex(h[6+8*i : 14+8*i]) }
		size, namesize := int(field(6)), int(field(11))
		name := string(raw[off+110 : off+110+namesize-1])
		if raw[off+110+namesize-1] != 0 {
			t.Fatalf("name %q not NUL-terminated", name)
		}
		dataOff := align(off + 110 + namesize)
		if name == "TRAILER!!!" {
			if rest := raw[dataOff:]; len(bytes.Trim(rest, "\x00")) != 0 {
				t.Errorf("%d bytes after the trailer", len(rest))
			}
			return order, files
		}
		order = append(order, name)
		files[name] = cpioFile{Mode: field(1), Major: field(9), Minor: field(10), Data: string(raw[dataOff : dataOff+size])}
		off = align(dataOff + size)
	}
}

func TestInitramfs(t *testing.T) {
	var buf bytes.Buffer
	err := writeInitramfs(&buf, []entry{
		{Path: "/init", Mode: 0o755, Data: []byte("#!/bin/sh\n")},
		{Path: "bin/busybox", Mode: 0o755, Data: []byte("ELF...")},
		{Path: "bin/sh", Mode: fs.ModeSymlink | 0o777, Data: []byte("busybox")},
		{Path: "lib/modules/virtio.ko", Mode: 0o644, Data: []byte("abc")}, // odd length: padding
		{Path: "dev/console", Mode: fs.ModeDevice | fs.ModeCharDevice | 0o600, Major: 5, Minor: 1},
		{Path: "www", Mode: fs.ModeDir | 0o755},
	})
	if err != nil {
		t.Fatal(err)
	}
	order, files := readNewc(t, buf.Bytes())
	want := map[string]cpioFile{
		"init":                  {Mode: 0o100755, Data: "#!/bin/sh\n"},
		"bin":                   {Mode: 0o040755},
		"bin/busybox":           {Mode: 0o100755, Data: "ELF..."},
		"bin/sh":                {Mode: 0o120777, Data: "busybox"},
		"lib":                   {Mode: 0o040755},
		"lib/modules":           {Mode: 0o040755},
		"lib/modules/virtio.ko": {Mode: 0o100644, Data: "abc"},
		"dev":                   {Mode: 0o040755},
		"dev/console":           {Mode: 0o020600, Major: 5, Minor: 1},
		"www":                   {Mode: 0o040755},
	}
	if len(files) != len(want) {
		t.Errorf("archive holds %v", order)
	}
	for name, w := range want {
		if got, ok := files[name]; !ok || got != w {
			t.Errorf("%s: %+v (present %v), want %+v", name, got, ok, w)
		}
	}
	// The kernel creates files in archive order: a directory must come
	// before what it holds.
	seen := map[string]bool{}
	for _, n := range order {
		for d := n; ; {
			i := bytes.LastIndexByte([]byte(d), '/')
			if i < 0 {
				break
			}
			d = d[:i]
			if !seen[d] {
				t.Errorf("%s comes before its directory %s", n, d)
			}
		}
		seen[n] = true
	}
	// Same input, same bytes: the image is reproducible.
	var again bytes.Buffer
	if err := writeInitramfs(&again, []entry{{Path: "www", Mode: fs.ModeDir | 0o755}}); err != nil {
		t.Fatal(err)
	}
	var again2 bytes.Buffer
	_ = writeInitramfs(&again2, []entry{{Path: "www", Mode: fs.ModeDir | 0o755}})
	if !bytes.Equal(again.Bytes(), again2.Bytes()) {
		t.Error("two archives of the same entries differ")
	}
}
