package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

func secretsFile(root string) string { return filepath.Join(root, SecretsPath) }

func TestEnsureSecretsCreatesAndKeeps(t *testing.T) {
	root := t.TempDir()
	var warnings []string
	warn := func(s string) { warnings = append(warnings, s) }

	first, err := EnsureSecrets(root, nil, warn)
	if err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(secretsFile(root))
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm() != 0o600 {
		t.Errorf("mode = %04o, want 0600", info.Mode().Perm())
	}
	seen := map[string]bool{}
	for _, name := range SecretNames() {
		v := first.Get(name).Reveal()
		if len(v) < 24 || strings.Trim(v, secretAlphabet) != "" {
			t.Errorf("%s = %q: want 24+ characters of [A-Za-z0-9]", name, v)
		}
		if seen[v] {
			t.Errorf("%s repeats another secret", name)
		}
		seen[v] = true
	}
	content, _ := os.ReadFile(secretsFile(root))

	second, err := EnsureSecrets(root, nil, warn)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range SecretNames() {
		if first.Get(name) != second.Get(name) {
			t.Errorf("%s changed on the second run", name)
		}
	}
	info2, _ := os.Stat(secretsFile(root))
	if !os.SameFile(info, info2) || !info.ModTime().Equal(info2.ModTime()) {
		t.Error("second run rewrote the file")
	}
	if again, _ := os.ReadFile(secretsFile(root)); !bytes.Equal(again, content) {
		t.Error("content changed on the second run")
	}
	if len(warnings) != 0 {
		t.Errorf("unexpected warnings %q", warnings)
	}
	if left, _ := filepath.Glob(filepath.Join(filepath.Dir(secretsFile(root)), ".*")); len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}
}

func TestEnsureSecretsAddsMissingKeepsOthers(t *testing.T) {
	root := t.TempDir()
	path := secretsFile(root)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	// An older or hand-written file: two known names, one from a newer
	// stacklab.
	old := "admin: OperatorChosen-pass.1\nrabbit: \"abcdefghijklmnop\"\nfuture_thing: ZZZZZZZZZZZZZZZZ\n"
	if err := os.WriteFile(path, []byte(old), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := EnsureSecrets(root, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Get(SecretAdmin).Reveal(); got != "OperatorChosen-pass.1" {
		t.Errorf("admin = %q, the operator's value was replaced", got)
	}
	if got := s.Get(SecretRabbit).Reveal(); got != "abcdefghijklmnop" {
		t.Errorf("rabbit = %q", got)
	}
	if s.Get(SecretNovaDB) == "" {
		t.Error("missing secret not generated")
	}
	data, _ := os.ReadFile(path)
	var onDisk map[string]string
	if err := yaml.Unmarshal(data, &onDisk); err != nil {
		t.Fatal(err)
	}
	if onDisk["future_thing"] != "ZZZZZZZZZZZZZZZZ" || onDisk["admin"] != "OperatorChosen-pass.1" || len(onDisk) != len(SecretNames())+1 {
		t.Errorf("file after adding: %v", onDisk)
	}
	if onDisk["nova_db"] != s.Get(SecretNovaDB).Reveal() {
		t.Error("generated value not written")
	}
}

func TestEnsureSecretsMode(t *testing.T) {
	tests := []struct {
		mode    os.FileMode
		wantErr error
		warn    bool
	}{
		{0o600, nil, false},
		{0o640, nil, true},
		{0o400, nil, true},
		{0o644, ErrSecretsExposed, false},
		{0o666, ErrSecretsExposed, false},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%04o", tt.mode), func(t *testing.T) {
			root := t.TempDir()
			if _, err := EnsureSecrets(root, nil, nil); err != nil {
				t.Fatal(err)
			}
			path := secretsFile(root)
			before, _ := os.ReadFile(path)
			if err := os.Chmod(path, tt.mode); err != nil {
				t.Fatal(err)
			}
			var warnings []string
			_, err := EnsureSecrets(root, nil, func(s string) { warnings = append(warnings, s) })
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			info, _ := os.Stat(path)
			if tt.wantErr != nil {
				if info.Mode().Perm() != tt.mode {
					t.Errorf("refused file's mode changed to %04o", info.Mode().Perm())
				}
				if !strings.Contains(err.Error(), "chmod 600") {
					t.Errorf("error does not say how to proceed: %v", err)
				}
			} else if info.Mode().Perm() != 0o600 {
				t.Errorf("mode = %04o, want fixed to 0600", info.Mode().Perm())
			}
			if (len(warnings) == 1) != tt.warn {
				t.Errorf("warnings = %q, want warning: %v", warnings, tt.warn)
			}
			if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
				t.Error("content changed")
			}
		})
	}
}

func TestEnsureSecretsRejectsBadValuesWithoutPrintingThem(t *testing.T) {
	for _, content := range []string{
		"admin: short\n",
		"admin: \"has space in it!!\"\n",
		"admin: \"quote'n;DROP TABLE x\"\n",
		"admin: [a, b]\n",
		"admin: 123456789012345\n",
		"admin: abcdefghijklmn\nadmin: abcdefghijklmn\n",
		"- a\n",
	} {
		root := t.TempDir()
		path := secretsFile(root)
		_ = os.MkdirAll(filepath.Dir(path), 0o755)
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := EnsureSecrets(root, nil, nil)
		if !errors.Is(err, ErrSecretsInvalid) {
			t.Errorf("%q: err = %v, want ErrSecretsInvalid", content, err)
			continue
		}
		for _, leak := range []string{"short", "has space", "DROP TABLE", "abcdefghijklmn"} {
			if strings.Contains(content, leak) && strings.Contains(err.Error(), leak) {
				t.Errorf("error reveals the value: %v", err)
			}
		}
		if after, _ := os.ReadFile(path); string(after) != content {
			t.Errorf("%q: invalid file was rewritten", content)
		}
	}
}

type fixedReader struct{ b byte }

func (r fixedReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = r.b
	}
	return len(p), nil
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("no entropy") }

func TestGenerate(t *testing.T) {
	// 61 maps to '9', the last character. Bytes of 248 and above must be
	// skipped (they would favour the first 8 characters): a source giving
	// 64 of them and then 247s must yield only 247's character.
	s, err := generate(fixedReader{61})
	if err != nil || s.Reveal() != strings.Repeat("9", secretLength) {
		t.Errorf("generate(61s) = %q, %v", s.Reveal(), err)
	}
	s, err = generate(bytes.NewReader(append(bytes.Repeat([]byte{250}, 64), bytes.Repeat([]byte{247}, 64)...)))
	if err != nil || s.Reveal() != strings.Repeat(string(secretAlphabet[247%62]), secretLength) {
		t.Errorf("rejection sampling: %q, %v", s.Reveal(), err)
	}
	if _, err := generate(errReader{}); err == nil {
		t.Error("error from the random source swallowed")
	}
	if _, err := EnsureSecrets(t.TempDir(), errReader{}, nil); err == nil {
		t.Error("EnsureSecrets ignored the random source's error")
	}
}

func TestSecretNeverPrinted(t *testing.T) {
	const pw = "hunter2hunter2hunter2"
	s := Secret(pw)
	type holder struct {
		Password Secret
		Map      map[string]Secret
		Ptr      *Secret
	}
	h := holder{Password: s, Map: map[string]Secret{"a": s}, Ptr: &s}
	secrets := Secrets{values: map[SecretName]Secret{SecretAdmin: s}}

	var outs []string
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%10s", "%T"} {
		outs = append(outs, fmt.Sprintf(verb, s), fmt.Sprintf(verb, h), fmt.Sprintf(verb, secrets), fmt.Sprintf(verb, &secrets))
	}
	outs = append(outs, fmt.Sprint(s), fmt.Sprintln(s, h), s.String(), s.GoString())
	for _, v := range []any{s, h, secrets, map[string]any{"s": s}} {
		j, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		y, err := yaml.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		outs = append(outs, string(j), string(y))
	}
	var logBuf bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&logBuf, nil))
	logger.Info("x", "pw", s, "all", secrets)
	slog.New(slog.NewTextHandler(&logBuf, nil)).Info("x", "pw", s)
	outs = append(outs, logBuf.String())
	wrapped := fmt.Errorf("connect with %v: %w", s, errors.New("refused"))
	outs = append(outs, wrapped.Error())

	for _, o := range outs {
		if strings.Contains(o, pw) || strings.Contains(o, fmt.Sprintf("%x", pw)) {
			t.Errorf("secret printed: %s", o)
		}
	}
	if !strings.Contains(fmt.Sprintf("%+v", h), "Password:[redacted]") {
		t.Errorf("%%+v of a struct: %+v", h)
	}
	if s.Reveal() != pw {
		t.Error("Reveal lost the value")
	}
}

func TestRedactor(t *testing.T) {
	s := Secrets{values: map[SecretName]Secret{
		SecretAdmin:  "abcDEF123456",
		SecretRabbit: "abcDEF123456xyz", // contains admin's: longest must win
		SecretNovaDB: "",
	}}
	in := "mysql://nova:abcDEF123456xyz@db and admin abcDEF123456."
	want := "mysql://nova:[redacted]@db and admin [redacted]."
	if got := s.Redactor().Redact(in); got != want {
		t.Errorf("Redact = %q, want %q", got, want)
	}
	if got := (Redactor{}).Redact("x"); got != "x" {
		t.Errorf("zero Redactor changed the text: %q", got)
	}
	real, err := EnsureSecrets(t.TempDir(), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	line := "password = " + real.Get(SecretKeystoneDB).Reveal() + "\n"
	if got := real.Redactor().Redact(line); got != "password = [redacted]\n" {
		t.Errorf("Redact = %q", got)
	}
}

// A diagnosis reads the secrets and changes nothing: a name the file lacks
// stays absent, a group-readable mode stays as found; a world-readable or
// absent file is refused as install refuses it.
func TestReadSecretsChangesNothing(t *testing.T) {
	root := t.TempDir()
	path := secretsFile(root)
	if _, err := ReadSecrets(root); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("no file: err = %v, want fs.ErrNotExist", err)
	}
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("ReadSecrets created %s", path)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	old := "admin: OperatorChosen-pass.1\n"
	if err := os.WriteFile(path, []byte(old), 0o640); err != nil {
		t.Fatal(err)
	}
	s, err := ReadSecrets(root)
	if err != nil {
		t.Fatal(err)
	}
	if s.Get(SecretAdmin).Reveal() != "OperatorChosen-pass.1" || s.Get(SecretNovaDB) != "" {
		t.Errorf("admin %q, nova_db %q", s.Get(SecretAdmin).Reveal(), s.Get(SecretNovaDB).Reveal())
	}
	info, _ := os.Stat(path)
	if data, _ := os.ReadFile(path); string(data) != old || info.Mode().Perm() != 0o640 {
		t.Errorf("file changed: mode %04o, %q", info.Mode().Perm(), data)
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadSecrets(root); !errors.Is(err, ErrSecretsExposed) {
		t.Errorf("world-readable: err = %v, want ErrSecretsExposed", err)
	}
}
