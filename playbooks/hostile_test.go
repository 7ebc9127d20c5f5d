package playbooks_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

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
