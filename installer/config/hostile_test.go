package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/stacklab/stacklab/internal/safefile"
	"github.com/stacklab/stacklab/internal/yamlguard"
)

const billionLaughs = `a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
network: {external_interface: *h}
`

func TestLoadRefusesHostileFiles(t *testing.T) {
	_, err := Load(writeConfig(t, billionLaughs), "")
	if !errors.Is(err, yamlguard.ErrExcessiveAliasing) || !errors.Is(err, ErrSyntax) {
		t.Errorf("billion laughs: Load = %v, want ErrExcessiveAliasing as an ErrSyntax", err)
	}

	root := writeConfig(t, "# "+strings.Repeat("x", MaxFileBytes)+"\n")
	_, err = Load(root, "")
	var tl *safefile.TooLargeError
	if !errors.As(err, &tl) || tl.Path != filepath.Join(root, DefaultPath) {
		t.Errorf("over 1 MiB: Load = %v, want a TooLargeError naming the file", err)
	}

	// A FIFO where the config belongs must be refused, not waited on.
	root = t.TempDir()
	fifo := filepath.Join(root, "lab.yaml")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(root, "/lab.yaml"); !errors.Is(err, safefile.ErrNotRegular) {
		t.Errorf("FIFO: Load = %v, want ErrNotRegular", err)
	}
}

func TestEnsureSecretsRefusesHostileFiles(t *testing.T) {
	for name, content := range map[string]string{
		"two documents": "admin: abcdefghijklmnop\n---\nadmin: qrstuvwxyzabcdef\n",
		"aliases":       billionLaughs,
	} {
		root := t.TempDir()
		path := secretsFile(root)
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := EnsureSecrets(root, nil, nil); !errors.Is(err, ErrSecretsInvalid) {
			t.Errorf("%s: EnsureSecrets = %v, want ErrSecretsInvalid", name, err)
		}
	}
}
