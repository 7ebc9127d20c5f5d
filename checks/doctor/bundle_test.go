package doctor

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"
)

func TestWriteBundleRedacts(t *testing.T) {
	var buf bytes.Buffer
	src := BundleSource{
		ReportJSON: []byte(`{"checks":[]}`), ReportText: []byte("ok\n"),
		Units: []string{"keystone"},
		Journal: func(_ context.Context, u string, _ int) ([]string, error) {
			return []string{u + " connected with password hunter2"}, nil
		},
		Files: []string{"/etc/keystone/keystone.conf", "/etc/missing.conf"},
		ReadFile: func(p string) ([]byte, error) {
			if p == "/etc/keystone/keystone.conf" {
				return []byte("connection = mysql+pymysql://keystone:hunter2@127.0.0.1/keystone\n"), nil
			}
			return nil, errors.New("no such file")
		},
		Redact: func(s string) string { return strings.ReplaceAll(s, "hunter2", "[redacted]") },
		Now:    time.Unix(0, 0),
	}
	if err := WriteBundle(context.Background(), &buf, src); err != nil {
		t.Fatal(err)
	}
	gz, err := gzip.NewReader(&buf)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(gz)
	got := map[string]string{}
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(tr)
		got[h.Name] = string(b)
	}
	for _, name := range []string{"report.json", "report.txt", "journal/keystone.log", "files/etc/keystone/keystone.conf", "MISSING"} {
		if _, ok := got[name]; !ok {
			t.Errorf("bundle lacks %s (has %v)", name, got)
		}
	}
	for name, content := range got {
		if strings.Contains(content, "hunter2") {
			t.Errorf("%s holds a secret: %q", name, content)
		}
	}
	if err := WriteBundle(context.Background(), io.Discard, BundleSource{}); err == nil {
		t.Error("a bundle without a redactor was written")
	}
}
