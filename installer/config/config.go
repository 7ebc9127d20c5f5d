// Package config loads stacklab's configuration (built-in defaults,
// overridden by /etc/stacklab/stacklab.yaml) and its generated secrets
// (/etc/stacklab/secrets.yaml).
package config

import (
	_ "embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"
	"reflect"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/stacklab/stacklab/internal/safefile"
)

// MaxFileBytes bounds stacklab.yaml and secrets.yaml, which hold a few
// dozen lines: a larger file is a wrong path, refused rather than read.
const MaxFileBytes = 1 << 20

// DefaultPath is read when Load is given no path; it may be absent.
const DefaultPath = "/etc/stacklab/stacklab.yaml"

//go:embed defaults.yaml
var defaultsYAML []byte

// DefaultsYAML returns the embedded defaults, comments included; it is the
// reference documentation of every key ("stacklab config defaults").
func DefaultsYAML() []byte { return append([]byte(nil), defaultsYAML...) }

// Config is the effective configuration. Empty strings and zeros documented
// as "auto" in defaults.yaml are resolved against the host by the caller,
// not here: this package never reads the machine's state.
type Config struct {
	Network   Network   `yaml:"network"`
	OpenStack OpenStack `yaml:"openstack"`
	Compute   Compute   `yaml:"compute"`
	Services  Services  `yaml:"services"`
	Horizon   Horizon   `yaml:"horizon"`
	Admin     Admin     `yaml:"admin"`
	Paths     Paths     `yaml:"paths"`

	// origins maps a dotted key to where it was set; keys absent from it
	// hold their default.
	origins map[string]position
}

type position struct {
	file string
	line int
}

type Network struct {
	ManagementInterface string `yaml:"management_interface"`
	ExternalInterface   string `yaml:"external_interface"`
	ManagementAddress   string `yaml:"management_address"`
	ProviderNetwork     string `yaml:"provider_network"`
	MTU                 int    `yaml:"mtu"`
}

type NeutronBackend string

const (
	// BackendAuto is the release's default: linuxbridge on Debian 12,
	// openvswitch on Debian 13.
	BackendAuto        NeutronBackend = "auto"
	BackendLinuxbridge NeutronBackend = "linuxbridge"
	BackendOpenvswitch NeutronBackend = "openvswitch"
)

type OpenStack struct {
	Region         string         `yaml:"region"`
	NeutronBackend NeutronBackend `yaml:"neutron_backend"`
}

type ComputeDriver string

const (
	DriverLibvirt ComputeDriver = "libvirt"
	DriverFake    ComputeDriver = "fake"
)

type VirtType string

const (
	VirtAuto VirtType = "auto"
	VirtKVM  VirtType = "kvm"
	VirtQEMU VirtType = "qemu"
)

type Compute struct {
	Driver   ComputeDriver `yaml:"driver"`
	VirtType VirtType      `yaml:"virt_type"`
}

type Services struct {
	Workers int `yaml:"workers"`
}

type Horizon struct {
	WebRoot  string `yaml:"web_root"`
	TimeZone string `yaml:"time_zone"`
}

type Admin struct {
	User    string `yaml:"user"`
	Project string `yaml:"project"`
}

type Paths struct {
	StateDir string `yaml:"state_dir"`
	LogDir   string `yaml:"log_dir"`
}

// Default returns the built-in configuration.
func Default() Config {
	var c Config
	errs := decode(defaultsYAML, "defaults.yaml", &c)
	if len(errs) == 0 {
		errs = c.validate()
	}
	if len(errs) != 0 {
		// Only a broken build gets here; TestDefaults guards it.
		panic(fmt.Sprintf("embedded defaults.yaml: %v", joinErrors(errs)))
	}
	c.origins = nil
	return c
}

// Load returns the defaults overridden by the file at path. An empty path
// means DefaultPath, which may be missing; a path given explicitly must
// exist. An absolute path is read under the root prefix (tests point it at
// a temporary tree); a relative one is the user's, from the working
// directory, as every command-line tool reads it. Every problem in the file
// is reported, each as an *Error naming file:line.
func Load(root, path string) (Config, error) {
	c := Default()
	explicit := path != ""
	if !explicit {
		path = DefaultPath
	}
	file := path
	if filepath.IsAbs(path) {
		file = filepath.Join(root, path)
	}
	data, err := safefile.ReadRegular(file, MaxFileBytes)
	if errors.Is(err, fs.ErrNotExist) && !explicit {
		return c, nil
	}
	if err != nil {
		return Config{}, fmt.Errorf("read configuration: %w", err)
	}
	// A key with a type error keeps its default, so validating anyway adds
	// no misleading errors and reports every problem in one go.
	errs := append(decode(data, path, &c), c.validate()...)
	if len(errs) != 0 {
		sortErrors(errs)
		return Config{}, joinErrors(errs)
	}
	return c, nil
}

// Origin tells where the value of a dotted key (e.g. "network.mtu") came
// from: "file:line" or "default".
func (c Config) Origin(key string) string {
	if o, ok := c.origins[key]; ok {
		return fmt.Sprintf("%s:%d", o.file, o.line)
	}
	return "default"
}

// Keys lists every dotted key in schema order.
func Keys() []string {
	var out []string
	var walk func(t reflect.Type, prefix string)
	walk = func(t reflect.Type, prefix string) {
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			name := yamlName(f)
			if name == "" {
				continue
			}
			if f.Type.Kind() == reflect.Struct {
				walk(f.Type, prefix+name+".")
				continue
			}
			out = append(out, prefix+name)
		}
	}
	walk(reflect.TypeFor[Config](), "")
	return out
}

// Show writes the effective configuration as YAML that could be used as
// stacklab.yaml, each value annotated with where it came from.
func (c Config) Show(w io.Writer) error {
	var doc yaml.Node
	if err := doc.Encode(c); err != nil {
		return fmt.Errorf("encode configuration: %w", err)
	}
	annotate(&doc, "", c)
	doc.HeadComment = "Effective stacklab configuration (defaults, overridden by " + DefaultPath + ")."
	enc := yaml.NewEncoder(w)
	enc.SetIndent(2)
	if err := enc.Encode(&doc); err != nil {
		return fmt.Errorf("write configuration: %w", err)
	}
	return enc.Close()
}

func annotate(n *yaml.Node, prefix string, c Config) {
	if n.Kind != yaml.MappingNode {
		return
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if v.Kind == yaml.MappingNode {
			annotate(v, prefix+k.Value+".", c)
			continue
		}
		v.LineComment = c.Origin(prefix + k.Value)
	}
}

func yamlName(f reflect.StructField) string {
	if !f.IsExported() {
		return ""
	}
	name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
	if name == "-" {
		return ""
	}
	return name
}
