package playbooks_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stacklab/stacklab/internal/safefile"
	"github.com/stacklab/stacklab/internal/yamlguard"
	"github.com/stacklab/stacklab/playbooks"
)

func writePlaybook(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "pb.yaml")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// aliasBomb is shaped for the playbook decoder, which follows aliases
// where the schema expects values: 3000 subnets that are one subnet, each
// with 3000 allocation pools that are one pool, about 24 KB of YAML for
// nine million decoded pools (the reported 45 KB file reached 4.1 GB).
func aliasBomb() string {
	const n = 3000
	var b strings.Builder
	b.WriteString("name: bomb\nsubnets: [&s {name: s, network: n, cidr: 10.0.0.0/24, allocation_pools: [&p {start: 10.0.0.1, end: 10.0.0.2}")
	b.WriteString(strings.Repeat(", *p", n-1))
	b.WriteString("]}")
	b.WriteString(strings.Repeat(", *s", n-1))
	b.WriteString("]\n")
	return b.String()
}

func TestLoadRefusesAliasBombs(t *testing.T) {
	laughs := `name: lol
a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
`
	for name, doc := range map[string]string{"billion laughs": laughs, "schema-shaped": aliasBomb()} {
		pb, err := playbooks.Load(writePlaybook(t, doc))
		if pb != nil || !errors.Is(err, yamlguard.ErrExcessiveAliasing) {
			t.Errorf("%s (%d bytes): Load = %v, want ErrExcessiveAliasing", name, len(doc), err)
		}
	}
}

func TestLoadRefusesSecondDocument(t *testing.T) {
	_, err := playbooks.Load(writePlaybook(t, "name: a\n---\nname: b\n"))
	if !errors.Is(err, yamlguard.ErrMultipleDocuments) {
		t.Fatalf("Load(two documents) = %v, want ErrMultipleDocuments", err)
	}
}

func TestLoadRefusesHugeFile(t *testing.T) {
	path := writePlaybook(t, "name: big\n# "+strings.Repeat("x", playbooks.MaxBytes)+"\n")
	_, err := playbooks.Load(path)
	var tl *safefile.TooLargeError
	if !errors.As(err, &tl) || tl.Path != path || tl.Limit != playbooks.MaxBytes {
		t.Fatalf("Load(over 1 MiB) = %v, want a TooLargeError naming %s and the limit", err, path)
	}
}

// nonRegular makes a FIFO and a directory in a fresh directory and adds
// /dev/zero where the machine has it: each stands where a playbook expects
// a file, and each must be refused at once.
func nonRegular(t *testing.T) []string {
	t.Helper()
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	sub := filepath.Join(dir, "dir")
	if err := os.Mkdir(sub, 0o700); err != nil {
		t.Fatal(err)
	}
	paths := []string{fifo, sub}
	if _, err := os.Stat("/dev/zero"); err == nil {
		paths = append(paths, "/dev/zero")
	}
	return paths
}

func TestLoadRefusesNonRegularFiles(t *testing.T) {
	for _, path := range nonRegular(t) {
		for what, doc := range map[string]string{
			"playbook":        "",
			"image file":      "name: x\nimages:\n  - name: img\n    file: " + path + "\n",
			"public key file": "name: x\nkeypairs:\n  - name: k\n    public_key_file: " + path + "\n",
		} {
			file := path
			if doc != "" {
				file = writePlaybook(t, doc)
			}
			done := make(chan error, 1)
			go func() { _, err := playbooks.Load(file); done <- err }()
			var err error
			select {
			case err = <-done:
			case <-time.After(10 * time.Second):
				t.Fatalf("%s %s: Load still blocked after 10s", what, path)
			}
			if !errors.Is(err, safefile.ErrNotRegular) && !containsAll(errorLines(err), path, "not a regular file") {
				t.Errorf("%s %s: Load = %v, want it refused as not a regular file, naming the path", what, path, err)
			}
		}
	}
}

func containsAll(lines []string, subs ...string) bool {
	for _, l := range lines {
		ok := true
		for _, s := range subs {
			ok = ok && strings.Contains(l, s)
		}
		if ok {
			return true
		}
	}
	return false
}
