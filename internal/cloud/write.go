package cloud

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"

	"github.com/stacklab/stacklab/internal/atomicfile"

	"go.yaml.in/yaml/v3"
)

// Default locations of the files stacklab install writes.
const (
	DefaultCloudsFile = "/etc/openstack/clouds.yaml"
	DefaultOpenRC     = "/root/admin-openrc"
	// DefaultCloudName is the clouds.yaml entry stacklab writes and, when
	// neither --cloud nor OS_CLOUD says otherwise, the one Open uses.
	DefaultCloudName = "stacklab"
)

// credentialMode: both files carry the admin password.
const credentialMode fs.FileMode = 0o600

// CloudEntry is the admin credential stacklab records for the lab it built.
// Password is a Secret, so printing or JSON-encoding an entry never shows it.
type CloudEntry struct {
	Name              string // clouds.yaml key; DefaultCloudName when empty
	AuthURL           string // e.g. http://10.0.0.5:5000/v3
	Username          string
	Password          Secret
	ProjectName       string
	UserDomainName    string
	ProjectDomainName string
	RegionName        string // case matters: keystone bootstrapped RegionOne ≠ regionOne
	Interface         string // public, internal or admin; public when empty
}

func (e CloudEntry) withDefaults() CloudEntry {
	if e.Name == "" {
		e.Name = DefaultCloudName
	}
	if e.Interface == "" {
		e.Interface = "public"
	}
	return e
}

func (e CloudEntry) validate() error {
	var missing []string
	for _, f := range []struct{ name, v string }{
		{"auth_url", e.AuthURL}, {"username", e.Username}, {"password", e.Password.Reveal()},
		{"project_name", e.ProjectName}, {"user_domain_name", e.UserDomainName},
		{"project_domain_name", e.ProjectDomainName}, {"region_name", e.RegionName},
	} {
		if f.v == "" {
			missing = append(missing, f.name)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("cloud entry %q: missing %s", e.Name, strings.Join(missing, ", "))
	}
	return nil
}

// yamlEntry is the clouds.yaml shape of an entry, in the order
// openstackclient's documentation shows it (yaml.v3 keeps struct order).
type yamlEntry struct {
	Auth struct {
		AuthURL           string `yaml:"auth_url"`
		Username          string `yaml:"username"`
		Password          string `yaml:"password"`
		ProjectName       string `yaml:"project_name"`
		UserDomainName    string `yaml:"user_domain_name"`
		ProjectDomainName string `yaml:"project_domain_name"`
	} `yaml:"auth"`
	RegionName         string `yaml:"region_name"`
	Interface          string `yaml:"interface"`
	IdentityAPIVersion int    `yaml:"identity_api_version"`
}

func (e CloudEntry) yaml() yamlEntry {
	var y yamlEntry
	y.Auth.AuthURL = e.AuthURL
	y.Auth.Username = e.Username
	y.Auth.Password = e.Password.Reveal()
	y.Auth.ProjectName = e.ProjectName
	y.Auth.UserDomainName = e.UserDomainName
	y.Auth.ProjectDomainName = e.ProjectDomainName
	y.RegionName = e.RegionName
	y.Interface = e.Interface
	y.IdentityAPIVersion = 3
	return y
}

// WriteCloudsYAML makes the clouds.yaml at root+path (DefaultCloudsFile when
// path is empty) hold entry under entry.Name, keeping every other cloud (and
// the file's comments) as they are. The file ends up mode 0600 and is
// replaced atomically, so a crash never leaves a half-written credential file.
// changed is false when the entry already said exactly this and the mode was
// right; then the file is not touched at all.
func WriteCloudsYAML(root, path string, entry CloudEntry) (changed bool, err error) {
	entry = entry.withDefaults()
	if err := entry.validate(); err != nil {
		return false, fmt.Errorf("write clouds.yaml: %w", err)
	}
	if path == "" {
		path = DefaultCloudsFile
	}
	file := filepath.Join(root, path)
	want := entry.yaml()

	old, mode, err := readExisting(file)
	if err != nil {
		return false, fmt.Errorf("write clouds.yaml: %w", err)
	}

	var doc yaml.Node
	if len(bytes.TrimSpace(old)) > 0 {
		if err := yaml.Unmarshal(old, &doc); err != nil {
			// Refuse rather than overwrite: the file may hold other clouds
			// someone cares about.
			return false, fmt.Errorf("write clouds.yaml: parse existing %s (fix or remove it): %w", file, err)
		}
	}
	cloudsMap, err := cloudsMapping(&doc, file)
	if err != nil {
		return false, fmt.Errorf("write clouds.yaml: %w", err)
	}

	// Compare what the entry means, not its bytes: the file may be formatted
	// differently (by hand, or another tool) and still say the same thing.
	var entryNode yaml.Node
	if err := entryNode.Encode(want); err != nil {
		return false, fmt.Errorf("write clouds.yaml: encode entry %q: %w", entry.Name, err)
	}
	idx := mappingIndex(cloudsMap, entry.Name)
	if idx >= 0 {
		var have any
		var wantGeneric any
		if err := cloudsMap.Content[idx+1].Decode(&have); err == nil {
			if err := entryNode.Decode(&wantGeneric); err != nil {
				return false, fmt.Errorf("write clouds.yaml: decode entry %q: %w", entry.Name, err)
			}
			if reflect.DeepEqual(have, wantGeneric) && mode == credentialMode {
				return false, nil
			}
		}
		cloudsMap.Content[idx+1] = &entryNode
	} else {
		cloudsMap.Content = append(cloudsMap.Content,
			&yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: entry.Name}, &entryNode)
	}

	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(&doc); err != nil {
		return false, fmt.Errorf("write clouds.yaml: encode %s: %w", file, err)
	}
	if err := enc.Close(); err != nil {
		return false, fmt.Errorf("write clouds.yaml: encode %s: %w", file, err)
	}
	if err := writeAtomic(file, buf.Bytes(), credentialMode); err != nil {
		return false, fmt.Errorf("write clouds.yaml: %w", err)
	}
	return true, nil
}

// cloudsMapping returns the mapping under the top-level "clouds" key of doc,
// creating the document and the key when they are absent.
func cloudsMapping(doc *yaml.Node, file string) (*yaml.Node, error) {
	if doc.Kind == 0 {
		doc.Kind = yaml.DocumentNode
		doc.Content = []*yaml.Node{{Kind: yaml.MappingNode, Tag: "!!map"}}
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%s: top level is not a mapping; fix or remove the file", file)
	}
	top := doc.Content[0]
	i := mappingIndex(top, "clouds")
	if i < 0 {
		top.Content = append(top.Content,
			&yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: "clouds"},
			&yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"})
		return top.Content[len(top.Content)-1], nil
	}
	v := top.Content[i+1]
	if v.Kind == yaml.ScalarNode && (v.Tag == "!!null" || v.Value == "") {
		// "clouds:" with nothing under it.
		*v = yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	}
	if v.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%s: \"clouds\" is not a mapping; fix or remove the file", file)
	}
	return v, nil
}

// mappingIndex returns the index of key's key node in mapping m, or -1.
func mappingIndex(m *yaml.Node, key string) int {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return i
		}
	}
	return -1
}

// WriteOpenRC writes the shell credential file (DefaultOpenRC when path is
// empty) for openstackclient users: `. admin-openrc` then `openstack …`.
// Values are single-quoted so a password with $, spaces or quotes survives
// the shell unchanged. Mode 0600, atomic, and untouched when already right.
func WriteOpenRC(root, path string, entry CloudEntry) (changed bool, err error) {
	entry = entry.withDefaults()
	if err := entry.validate(); err != nil {
		return false, fmt.Errorf("write openrc: %w", err)
	}
	if path == "" {
		path = DefaultOpenRC
	}
	file := filepath.Join(root, path)
	want := renderOpenRC(entry)

	old, mode, err := readExisting(file)
	if err != nil {
		return false, fmt.Errorf("write openrc: %w", err)
	}
	if old != nil && bytes.Equal(old, want) && mode == credentialMode {
		return false, nil
	}
	if err := writeAtomic(file, want, credentialMode); err != nil {
		return false, fmt.Errorf("write openrc: %w", err)
	}
	return true, nil
}

func renderOpenRC(e CloudEntry) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "# Written by stacklab: admin credentials of the %q cloud (same as clouds.yaml).\n", e.Name)
	fmt.Fprintf(&b, "# Use: . %s && openstack token issue\n", DefaultOpenRC)
	for _, kv := range []struct{ k, v string }{
		{"OS_AUTH_URL", e.AuthURL},
		{"OS_USERNAME", e.Username},
		{"OS_PASSWORD", e.Password.Reveal()},
		{"OS_PROJECT_NAME", e.ProjectName},
		{"OS_USER_DOMAIN_NAME", e.UserDomainName},
		{"OS_PROJECT_DOMAIN_NAME", e.ProjectDomainName},
		{"OS_REGION_NAME", e.RegionName},
		{"OS_INTERFACE", e.Interface},
		{"OS_IDENTITY_API_VERSION", "3"},
	} {
		fmt.Fprintf(&b, "export %s=%s\n", kv.k, ShellQuote(kv.v))
	}
	return b.Bytes()
}

// ShellQuote quotes s for POSIX sh. Inside single quotes nothing is special
// except the single quote itself, which is written as: close the quotes, an
// escaped quote, reopen (see the example).
func ShellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// readExisting returns the file's bytes and permission bits; nil, 0 when it
// does not exist.
func readExisting(file string) ([]byte, fs.FileMode, error) {
	fi, err := os.Stat(file)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, err
	}
	if !fi.Mode().IsRegular() {
		return nil, 0, fmt.Errorf("%s is not a regular file", file)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, 0, err
	}
	return b, fi.Mode().Perm(), nil
}

// writeAtomic replaces file with data atomically; the temporary file is
// 0600 until it gets mode, so the password is never readable by others.
func writeAtomic(file string, data []byte, mode fs.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		return fmt.Errorf("create %s: %w", filepath.Dir(file), err)
	}
	return atomicfile.Write(file, data, atomicfile.Options{Mode: mode})
}
