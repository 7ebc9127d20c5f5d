package config

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

func TestDefaults(t *testing.T) {
	c := Default()
	want := Config{
		Network:   Network{ProviderNetwork: "provider"},
		OpenStack: OpenStack{Region: "RegionOne", NeutronBackend: BackendAuto},
		Compute:   Compute{Driver: DriverLibvirt, VirtType: VirtAuto},
		Horizon:   Horizon{WebRoot: "/horizon", TimeZone: "UTC"},
		Admin:     Admin{User: "admin", Project: "admin"},
		Paths:     Paths{StateDir: "/var/lib/stacklab", LogDir: "/var/log/stacklab"},
	}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("Default() = %+v\nwant %+v", c, want)
	}
	if err := c.Validate(); err != nil {
		t.Error(err)
	}
	if o := c.Origin("network.mtu"); o != "default" {
		t.Errorf("origin of a default = %q", o)
	}
}

// defaults.yaml is the documentation: every key must be in it, with a
// comment of its own.
func TestDefaultsDocumentEveryKey(t *testing.T) {
	var doc yaml.Node
	if err := yaml.Unmarshal(DefaultsYAML(), &doc); err != nil {
		t.Fatal(err)
	}
	documented := map[string]bool{}
	root := doc.Content[0]
	for i := 0; i+1 < len(root.Content); i += 2 {
		section := root.Content[i+1]
		for j := 0; j+1 < len(section.Content); j += 2 {
			k := section.Content[j]
			if strings.TrimSpace(k.HeadComment+k.LineComment+section.Content[j+1].LineComment) != "" {
				documented[root.Content[i].Value+"."+k.Value] = true
			}
		}
	}
	keys := Keys()
	if len(keys) != 16 {
		t.Fatalf("Keys() = %v, want the 16 keys of the schema", keys)
	}
	for _, k := range keys {
		if !documented[k] {
			t.Errorf("%s has no comment in defaults.yaml", k)
		}
	}
}

func writeConfig(t *testing.T, content string) (root string) {
	t.Helper()
	root = t.TempDir()
	path := filepath.Join(root, DefaultPath)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return root
}

func TestLoadWithoutFile(t *testing.T) {
	root := t.TempDir()
	c, err := Load(root, "")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(c, Default()) {
		t.Errorf("got %+v, want defaults", c)
	}
	if _, err := Load(root, "/etc/other.yaml"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("explicit missing path: %v, want ErrNotExist", err)
	}
}

func TestLoadOverrides(t *testing.T) {
	root := writeConfig(t, `# mine
network:
  external_interface: eth1
  mtu: 1400
  management_address: 192.0.2.10
compute:
  driver: fake
  virt_type:        # empty: keep the default
services: {workers: 2}
horizon:
`)
	c, err := Load(root, "")
	if err != nil {
		t.Fatal(err)
	}
	want := Default()
	want.Network.ExternalInterface = "eth1"
	want.Network.MTU = 1400
	want.Network.ManagementAddress = "192.0.2.10"
	want.Compute.Driver = DriverFake
	want.Services.Workers = 2
	c.origins, want.origins = nil, nil
	if !reflect.DeepEqual(c, want) {
		t.Errorf("got %+v\nwant %+v", c, want)
	}
	c, _ = Load(root, "")
	if o := c.Origin("network.mtu"); o != DefaultPath+":4" {
		t.Errorf("origin = %q", o)
	}
	if o := c.Origin("compute.virt_type"); o != "default" {
		t.Errorf("null value origin = %q, want default", o)
	}
}

func TestLoadEmptyAndCommentOnly(t *testing.T) {
	for _, content := range []string{"", "# nothing\n", "---\n", "network:\n"} {
		c, err := Load(writeConfig(t, content), "")
		if err != nil {
			t.Errorf("%q: %v", content, err)
			continue
		}
		if !reflect.DeepEqual(c, Default()) && !reflect.DeepEqual(c.Network, Default().Network) {
			t.Errorf("%q: got %+v", content, c)
		}
	}
}

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name    string
		content string
		kind    error
		want    []string // substrings of the error text
	}{
		{"typo in a key", "network:\n  mtuu: 1400\n", ErrUnknownKey,
			[]string{DefaultPath + ":2: network.mtuu: unknown key; did you mean \"network.mtu\"?"}},
		{"typo in a section", "netwrok:\n  mtu: 1400\n", ErrUnknownKey, //nolint:misspell // the typo is the input under test
			[]string{":1: netwrok: unknown key; did you mean \"network\"?"}}, //nolint:misspell // echoed back in the message
		{"key under the wrong section", "openstack:\n  virt_type: qemu\n", ErrUnknownKey,
			[]string{":2: openstack.virt_type: unknown key; did you mean \"compute.virt_type\"? (it belongs under compute:)"}},
		{"leaf key at the top level", "mtu: 1400\n", ErrUnknownKey,
			[]string{"did you mean \"network.mtu\"?"}},
		{"section nested in a section", "network:\n  compute:\n    driver: fake\n", ErrUnknownKey,
			[]string{"\"compute\" is a section, it belongs at the top level"}},
		{"nothing close", "network:\n  zzzzzzzz: 1\n", ErrUnknownKey,
			[]string{"known keys here: management_interface, external_interface"}},
		{"text for a number", "network:\n  mtu: big\n", ErrType,
			[]string{":2: network.mtu: expected a whole number, got text \"big\""}},
		{"quoted number", "network:\n  mtu: \"1400\"\n", ErrType, []string{"expected a whole number"}},
		{"float", "services:\n  workers: 1.5\n", ErrType, []string{"got number \"1.5\""}},
		{"number for a name", "openstack:\n  region: 1\n", ErrType,
			[]string{"openstack.region: expected a string, got number \"1\" (quote it"}},
		{"boolean for a name", "admin:\n  user: true\n", ErrType, []string{"got boolean \"true\""}},
		{"list for a section", "network: [a, b]\n", ErrType, []string{":1: network: expected a mapping of keys, got a list"}},
		{"not a mapping at all", "just text\n", ErrType, []string{"expected a mapping"}},
		{"duplicate key", "network:\n  mtu: 1400\n  mtu: 1500\n", ErrValue, []string{":3: network.mtu: set twice (first at line 2)"}},
		{"syntax", "network:\n  mtu: [\n", ErrSyntax, []string{DefaultPath}},
		{"two documents", "network: {}\n---\nnetwork: {}\n", ErrSyntax, []string{"more than one YAML document"}},
		{"enum", "compute:\n  virt_type: xen\n", ErrValue,
			[]string{":2: compute.virt_type: \"xen\" is not one of: auto, kvm, qemu"}},
		{"unknown backend", "openstack:\n  neutron_backend: ovn\n", ErrValue,
			[]string{"not one of: auto, linuxbridge, openvswitch"}},
		{"CIDR where an address belongs", "network:\n  management_address: 10.0.0.5/24\n", ErrValue,
			[]string{"without a prefix length"}},
		{"not an address", "network:\n  management_address: eth0\n", ErrValue, []string{"is not an IP address"}},
		{"loopback address", "network:\n  management_address: 127.0.0.1\n", ErrValue, []string{"cannot be reached"}},
		{"mtu range", "network:\n  mtu: 100\n", ErrValue, []string{"network.mtu: 100 is out of range"}},
		{"workers range", "services:\n  workers: -1\n", ErrValue, []string{"out of range"}},
		{"interface name too long", "network:\n  external_interface: averyveryverylongname\n", ErrValue, []string{"not a valid interface name"}},
		{"same interface twice", "network:\n  management_interface: eth0\n  external_interface: eth0\n", ErrValue, []string{"must be a second NIC"}},
		{"web root", "horizon:\n  web_root: horizon/\n", ErrValue, []string{"absolute URL path"}},
		{"time zone", "horizon:\n  time_zone: \"Europe Paris\"\n", ErrValue, []string{"tz database name"}},
		{"relative path", "paths:\n  state_dir: var/lib\n", ErrValue, []string{"must be an absolute path"}},
		{"unclean path", "paths:\n  log_dir: /var/log/stacklab/\n", ErrValue, []string{"write \"/var/log/stacklab\""}},
		{"region with a space", "openstack:\n  region: \"Region One\"\n", ErrValue, []string{"openstack.region"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(writeConfig(t, tt.content), "")
			if err == nil {
				t.Fatal("no error")
			}
			if !errors.Is(err, tt.kind) {
				t.Errorf("error %q is not %v", err, tt.kind)
			}
			var ce *Error
			if !errors.As(err, &ce) || ce.File != DefaultPath {
				t.Errorf("error %q is not an *Error naming the file", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestLoadReportsEveryProblem(t *testing.T) {
	_, err := Load(writeConfig(t, "network:\n  mtuu: 1\n  mtu: x\ncompute:\n  driver: xen\n"), "")
	var lines []string
	for _, l := range strings.Split(err.Error(), "\n") {
		before, _, _ := strings.Cut(l, ": ")
		lines = append(lines, before)
	}
	if want := []string{DefaultPath + ":2", DefaultPath + ":3", DefaultPath + ":5"}; !reflect.DeepEqual(lines, want) {
		t.Errorf("got %q, want errors at %v", err, want)
	}
	_, err = Load(writeConfig(t, "network:\n  mtu: 5\ncompute:\n  driver: xen\n"), "")
	if n := strings.Count(err.Error(), "\n") + 1; n != 2 {
		t.Errorf("got %d errors, want 2: %v", n, err)
	}
}

func TestShowRoundTrips(t *testing.T) {
	root := writeConfig(t, "network:\n  mtu: 1400\nhorizon:\n  time_zone: Europe/Paris\n")
	c, err := Load(root, "")
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := c.Show(&out); err != nil {
		t.Fatal(err)
	}
	s := out.String()
	for _, w := range []string{"mtu: 1400 # " + DefaultPath + ":2", "time_zone: Europe/Paris # " + DefaultPath + ":4", "region: RegionOne # default"} {
		if !strings.Contains(s, w) {
			t.Errorf("output lacks %q:\n%s", w, s)
		}
	}
	again, err := Load(writeConfig(t, s), "")
	if err != nil {
		t.Fatalf("Show output does not load back: %v\n%s", err, s)
	}
	again.origins, c.origins = nil, nil
	if !reflect.DeepEqual(again, c) {
		t.Errorf("round trip: %+v != %+v", again, c)
	}
}

// "--config ./lab.yaml" is the file in the working directory, not /lab.yaml
// under the root.
func TestLoadRelativePathFromWorkingDirectory(t *testing.T) {
	cwd := t.TempDir()
	t.Chdir(cwd)
	if err := os.WriteFile(filepath.Join(cwd, "lab.yaml"), []byte("network:\n  mtu: 1400\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	root := t.TempDir() // holds no lab.yaml: reading under it would fail
	for _, path := range []string{"lab.yaml", "./lab.yaml"} {
		c, err := Load(root, path)
		if err != nil {
			t.Fatalf("Load(%q) = %v, want the file in the working directory", path, err)
		}
		if c.Network.MTU != 1400 || c.Origin("network.mtu") != path+":2" {
			t.Errorf("Load(%q): mtu %d from %s, want 1400 from %s:2", path, c.Network.MTU, c.Origin("network.mtu"), path)
		}
	}
	// An absolute path is still read under the root prefix.
	if err := os.WriteFile(filepath.Join(root, "abs.yaml"), []byte("network:\n  mtu: 1450\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if c, err := Load(root, "/abs.yaml"); err != nil || c.Network.MTU != 1450 {
		t.Errorf("Load(root, /abs.yaml) = mtu %d, %v; want 1450 from under the root", c.Network.MTU, err)
	}
}
