package config

import (
	"bytes"
	"cmp"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"

	"github.com/stacklab/stacklab/internal/atomicfile"
	"github.com/stacklab/stacklab/internal/safefile"
	"github.com/stacklab/stacklab/internal/yamlguard"

	"go.yaml.in/yaml/v3"
)

// SecretsPath holds every password stacklab generates.
const SecretsPath = "/etc/stacklab/secrets.yaml"

// Secret is a password or key. Every way of printing it shows [redacted],
// so a secret that reaches a log line, an error or a support bundle through
// fmt, encoding/json, yaml or slog leaks nothing; Reveal is the one explicit
// way out, for the code that writes service configs.
//
// One gap no method can close: fmt prints an unexported struct field by
// reflection, without calling its methods, so keep a Secret in an exported
// field or a local variable, never in an unexported field of a struct that
// might be printed.
type Secret string

const redacted = "[redacted]"

func (s Secret) Reveal() string { return string(s) }

func (Secret) String() string   { return redacted }
func (Secret) GoString() string { return redacted }

// Format covers every verb, including %s, %q, %x and %d, which would
// otherwise format the underlying string.
func (Secret) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, redacted) }

func (Secret) MarshalJSON() ([]byte, error) { return []byte(`"` + redacted + `"`), nil }
func (Secret) MarshalText() ([]byte, error) { return []byte(redacted), nil }
func (Secret) MarshalYAML() (any, error)    { return redacted, nil }
func (Secret) LogValue() slog.Value         { return slog.StringValue(redacted) }

// SecretName names one entry of the secrets file.
type SecretName string

const (
	SecretAdmin            SecretName = "admin"
	SecretKeystoneDB       SecretName = "keystone_db"
	SecretGlanceDB         SecretName = "glance_db"
	SecretGlanceUser       SecretName = "glance_user"
	SecretPlacementDB      SecretName = "placement_db"
	SecretPlacementUser    SecretName = "placement_user"
	SecretNovaDB           SecretName = "nova_db"
	SecretNovaUser         SecretName = "nova_user"
	SecretNeutronDB        SecretName = "neutron_db"
	SecretNeutronUser      SecretName = "neutron_user"
	SecretRabbit           SecretName = "rabbit"
	SecretMetadata         SecretName = "metadata_secret"
	SecretHorizonSecretKey SecretName = "horizon_secret_key"
)

// SecretNames lists every secret stacklab needs, in file order.
func SecretNames() []SecretName {
	return []SecretName{
		SecretAdmin, SecretKeystoneDB, SecretGlanceDB, SecretGlanceUser,
		SecretPlacementDB, SecretPlacementUser, SecretNovaDB, SecretNovaUser,
		SecretNeutronDB, SecretNeutronUser, SecretRabbit, SecretMetadata,
		SecretHorizonSecretKey,
	}
}

// Secrets is the content of the secrets file.
type Secrets struct {
	values map[SecretName]Secret
}

// Get returns the named secret; EnsureSecrets guarantees every name of
// SecretNames is present.
func (s Secrets) Get(name SecretName) Secret { return s.values[name] }

// A Secrets value printed with %v would otherwise show its map, and fmt
// cannot call Secret's methods on values reached through an unexported
// field.
func (s Secrets) String() string               { return fmt.Sprintf("Secrets{%d %s}", len(s.values), redacted) }
func (s Secrets) GoString() string             { return s.String() }
func (s Secrets) Format(f fmt.State, _ rune)   { _, _ = io.WriteString(f, s.String()) }
func (s Secrets) MarshalJSON() ([]byte, error) { return []byte(`"` + redacted + `"`), nil }
func (s Secrets) MarshalYAML() (any, error)    { return redacted, nil }
func (s Secrets) LogValue() slog.Value         { return slog.StringValue(redacted) }

// Redactor replaces every secret value in text with [redacted]; for logs
// captured from commands and for support bundles.
type Redactor struct {
	r *strings.Replacer
}

func (s Secrets) Redactor() Redactor {
	vals := make([]string, 0, len(s.values))
	for _, v := range s.values {
		if v != "" {
			vals = append(vals, string(v))
		}
	}
	// Longest first: the Replacer tries its arguments in order, and a
	// secret that contains another must win.
	slices.SortFunc(vals, func(a, b string) int { return cmp.Or(len(b)-len(a), strings.Compare(a, b)) })
	vals = slices.Compact(vals)
	pairs := make([]string, 0, 2*len(vals))
	for _, v := range vals {
		pairs = append(pairs, v, redacted)
	}
	return Redactor{r: strings.NewReplacer(pairs...)}
}

func (r Redactor) Redact(s string) string {
	if r.r == nil {
		return s
	}
	return r.r.Replace(s)
}

// Errors of the secrets file, for errors.Is.
var (
	ErrSecretsExposed = errors.New("secrets file is readable by other users")
	ErrSecretsInvalid = errors.New("secrets file is invalid")
)

const secretLength = 32

// Only letters and digits: a generated password lands in INI files,
// connection URLs, SQL statements, shell profiles (openrc) and YAML, and
// each of the others needs quoting somewhere. 62^32 is ~190 bits.
const secretAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

// A value an operator wrote by hand must survive the same places.
var secretValueRe = regexp.MustCompile(`^[A-Za-z0-9._~-]{12,128}$`)

func generate(r io.Reader) (Secret, error) {
	out := make([]byte, 0, secretLength)
	buf := make([]byte, 64)
	// Rejection sampling keeps every character equally likely: 248 is the
	// largest multiple of 62 below 256.
	for len(out) < secretLength {
		if _, err := io.ReadFull(r, buf); err != nil {
			return "", fmt.Errorf("read random bytes: %w", err)
		}
		for _, b := range buf {
			if b < 248 && len(out) < secretLength {
				out = append(out, secretAlphabet[int(b)%len(secretAlphabet)])
			}
		}
	}
	return Secret(out), nil
}

// EnsureSecrets loads the secrets file under root, generating whatever is
// missing. Existing values are never changed: services and databases
// already use them. The file is kept at mode 0600 owned by the running
// user; a group-readable mode is corrected and reported through warn, while
// a world-readable file is refused, because its passwords must be presumed
// copied and only the operator can decide to accept that. random is
// crypto/rand.Reader when nil; warn may be nil.
func EnsureSecrets(root string, random io.Reader, warn func(string)) (Secrets, error) {
	if random == nil {
		random = rand.Reader
	}
	if warn == nil {
		warn = func(string) {}
	}
	path := filepath.Join(root, SecretsPath)
	values, order, err := loadSecrets(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return Secrets{}, err
	default:
		if err := restrictSecretsFile(path, warn); err != nil {
			return Secrets{}, err
		}
	}

	missing := false
	for _, name := range SecretNames() {
		if _, ok := values[name]; ok {
			continue
		}
		s, err := generate(random)
		if err != nil {
			return Secrets{}, fmt.Errorf("generate secret %s: %w", name, err)
		}
		values[name] = s
		missing = true
	}
	if missing {
		if err := writeSecrets(path, values, order); err != nil {
			return Secrets{}, fmt.Errorf("write secrets: %w", err)
		}
	}
	return Secrets{values: values}, nil
}

// ReadSecrets reads the secrets file under root for a diagnosis: it changes
// nothing (no secret generated, no mode corrected) and refuses the same
// files EnsureSecrets refuses. A name the file lacks reads as empty. An
// absent file is an error wrapping fs.ErrNotExist.
func ReadSecrets(root string) (Secrets, error) {
	path := filepath.Join(root, SecretsPath)
	values, _, err := loadSecrets(path)
	if err != nil {
		return Secrets{}, err
	}
	return Secrets{values: values}, nil
}

// loadSecrets reads and parses the file at path after checking it is a
// regular file of ours that nobody else can read. values is never nil.
func loadSecrets(path string) (values map[SecretName]Secret, order []SecretName, err error) {
	values = map[SecretName]Secret{}
	data, err := safefile.ReadRegular(path, MaxFileBytes)
	if err != nil {
		return values, nil, fmt.Errorf("read secrets: %w", err)
	}
	if err := checkSecretsFile(path); err != nil {
		return values, nil, err
	}
	// names in the file we do not know, kept as found
	if order, err = parseSecrets(data, values); err != nil {
		return values, nil, fmt.Errorf("%s: %w", SecretsPath, err)
	}
	return values, order, nil
}

func checkSecretsFile(path string) error {
	info, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("secrets: %w", err)
	}
	if !info.Mode().IsRegular() {
		return fmt.Errorf("%s: %w: not a regular file", SecretsPath, ErrSecretsInvalid)
	}
	if st, ok := info.Sys().(*syscall.Stat_t); ok && int(st.Uid) != os.Geteuid() {
		return fmt.Errorf("%s: %w: owned by uid %d, not by uid %d running stacklab", SecretsPath, ErrSecretsExposed, st.Uid, os.Geteuid())
	}
	if perm := info.Mode().Perm(); perm&0o004 != 0 {
		return fmt.Errorf("%s: %w (mode %04o): the passwords in it may have been copied; "+
			"if you accept that, run 'chmod 600 %s' and re-run", SecretsPath, ErrSecretsExposed, perm, SecretsPath)
	}
	return nil
}

// restrictSecretsFile brings a checked file's mode back to 0600.
func restrictSecretsFile(path string, warn func(string)) error {
	info, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("secrets: %w", err)
	}
	if perm := info.Mode().Perm(); perm != 0o600 {
		if err := os.Chmod(path, 0o600); err != nil {
			return fmt.Errorf("secrets: restrict mode: %w", err)
		}
		warn(fmt.Sprintf("%s had mode %04o; changed to 0600", SecretsPath, perm))
	}
	return nil
}

func parseSecrets(data []byte, values map[SecretName]Secret) ([]SecretName, error) {
	doc, err := yamlguard.Parse(data, yamlguard.DefaultAliasNodes)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSecretsInvalid, err)
	}
	if doc.Kind == 0 {
		return nil, nil
	}
	m := doc.Content[0]
	if m.Kind == yaml.ScalarNode && m.Tag == "!!null" {
		return nil, nil
	}
	if m.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%w: line %d: expected name: value pairs", ErrSecretsInvalid, m.Line)
	}
	var unknown []SecretName
	var errs []error
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		name := SecretName(k.Value)
		if _, dup := values[name]; dup {
			errs = append(errs, fmt.Errorf("%w: line %d: %s is set twice", ErrSecretsInvalid, k.Line, name))
			continue
		}
		// Never quote the value in an error: it is the secret.
		if v.Kind != yaml.ScalarNode || v.Tag != "!!str" || !secretValueRe.MatchString(v.Value) {
			errs = append(errs, fmt.Errorf("%w: line %d: %s must be 12 to 128 characters of A-Z a-z 0-9 . _ ~ - "+
				"(other characters break the INI files, URLs or SQL it is written into); delete the line to have one generated",
				ErrSecretsInvalid, v.Line, name))
			continue
		}
		values[name] = Secret(v.Value)
		if !slices.Contains(SecretNames(), name) {
			// Kept, not dropped: a newer stacklab may have written it and
			// a password once lost cannot be recovered.
			unknown = append(unknown, name)
		}
	}
	return unknown, errors.Join(errs...)
}

func writeSecrets(path string, values map[SecretName]Secret, extra []SecretName) error {
	var b bytes.Buffer
	b.WriteString("# Generated by stacklab. Services and databases use these passwords:\n" +
		"# never change one here, and keep this file mode 0600.\n")
	for _, name := range append(SecretNames(), extra...) {
		fmt.Fprintf(&b, "%s: %s\n", name, values[name].Reveal())
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return atomicfile.Write(path, b.Bytes(), atomicfile.Options{Mode: 0o600})
}
