package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stacklab/stacklab/checks"
)

// doctor runs as root and writes --bundle where the user says: a symlink
// planted there must not redirect it, and an existing file must not be
// truncated; both are refused and left exactly as they were.
func TestDoctorBundleRefusesExistingPaths(t *testing.T) {
	e, skip := doctorEnv(t, &fakeLab{active: true}, true)
	dir := t.TempDir()
	target := filepath.Join(dir, "shadow")
	if err := os.WriteFile(target, []byte("root:x:0:0"), 0o644); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "bundle-link.tar.gz")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	existing := filepath.Join(dir, "old.tar.gz")
	if err := os.WriteFile(existing, []byte("an earlier bundle"), 0o640); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{link, existing} {
		r := runDoctor(t, e, append([]string{"doctor", "--bundle", path}, skip...)...)
		if r.code != exitFailed || !strings.Contains(r.stderr, path) || !strings.Contains(r.stderr, "already exists") {
			t.Errorf("--bundle %s: exit %d, stderr %q; want it refused, naming the path", path, r.code, r.stderr)
		}
	}
	if b, _ := os.ReadFile(target); string(b) != "root:x:0:0" {
		t.Errorf("the symlink's target was written: %q", b)
	}
	if b, _ := os.ReadFile(existing); string(b) != "an earlier bundle" {
		t.Errorf("the existing file was replaced: %q", b)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Errorf("the symlink itself was replaced: %v %v", fi, err)
	}
}

// Every doctor check's result has URL passwords hidden, whichever check
// quoted the URL.
func TestDoctorChecksRedactURLPasswords(t *testing.T) {
	leaky := checks.Check{ID: "leaky", Title: "leaky", Run: func(context.Context) checks.Result {
		return checks.Failf(`GET http://admin:url-Pa55word@h:5000/v3 failed`, "try http://admin:url-Pa55word@h:5000/v3",
			`Get "http://admin:url-Pa55word@h:5000/v3/endpoints": refused`)
	}}
	r := redactURLPasswords([]checks.Check{leaky})[0].Run(context.Background())
	all := r.Summary + r.Fix + strings.Join(r.Evidence, "")
	if strings.Contains(all, "url-Pa55word") || strings.Count(all, "admin:xxxxx@h:5000") != 3 {
		t.Errorf("result not redacted: %+v", r)
	}
}
