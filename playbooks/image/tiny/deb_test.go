package tiny

import (
	"bytes"
	"strings"
	"testing"
)

func TestDebExtract(t *testing.T) {
	files := map[string][]byte{
		"boot/vmlinuz-6.1.0-9-cloud-amd64": []byte("kernel"),
		"usr/share/doc/x/copyright":        []byte("doc"),
		"bin/busybox":                      []byte("bb"),
	}
	for _, comp := range []string{"xz", "zst", "gz", ""} {
		t.Run("data.tar."+comp, func(t *testing.T) {
			got, err := debExtractFrom(bytes.NewReader(debBytes(t, comp, files)),
				func(n string) bool { return n != "usr/share/doc/x/copyright" })
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 2 || string(got["boot/vmlinuz-6.1.0-9-cloud-amd64"]) != "kernel" || string(got["bin/busybox"]) != "bb" {
				t.Errorf("extracted %v", got)
			}
		})
	}
}

func TestDebExtractErrors(t *testing.T) {
	noData := []byte("!<arch>\n" + "debian-binary   0           0     0     100644  4         `\n" + "2.0\n")
	for _, tc := range []struct {
		name, want string
		deb        []byte
	}{
		{"not ar", "no ar magic", []byte("PK\x03\x04 a zip")},
		{"no data member", "no data.tar member", noData},
		{"truncated header", "ar header", []byte("!<arch>\ndebian-bin")},
		// github.com/blakesmith/ar reads an unparsable size as 0: the
		// damage shows as a missing member rather than a bad field.
		{"bad size", "no data.tar member", []byte("!<arch>\n" + "debian-binary   0           0     0     100644  xx        `\n")},
		{"unknown codec", "unsupported compression", []byte("!<arch>\n" + "data.tar.lzma   0           0     0     100644  2         `\n" + "ab")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := debExtractFrom(bytes.NewReader(tc.deb), func(string) bool { return true })
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want it to contain %q", err, tc.want)
			}
		})
	}
}
