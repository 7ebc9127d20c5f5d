package openstack

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stacklab/stacklab/installer/inifile"
)

// keyIndexPath is the committed section/key index of the real Debian file
// installed at path (see testdata/README.md).
func keyIndexPath(path string) string {
	return filepath.Join("testdata", "keys", strings.ReplaceAll(strings.TrimPrefix(path, "/"), "/", "_")+".keys")
}

func loadKeyIndex(t *testing.T, path string) map[string]bool {
	t.Helper()
	f, err := os.Open(keyIndexPath(path))
	if err != nil {
		t.Fatalf("no key index for %s: %v", path, err)
	}
	defer f.Close()
	idx := map[string]bool{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if line := sc.Text(); line != "" && !strings.HasPrefix(line, "#") {
			idx[line] = true
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return idx
}

// TestINIKeysExist checks every INI setting against the real Debian file's
// sections and keys (set or commented out), for every variant of Params.
// A misspelt section or key is silently ignored by oslo.config.
func TestINIKeysExist(t *testing.T) {
	for _, p := range paramVariants() {
		for _, f := range Files(p) {
			if f.Kind != INI && f.Kind != Flat {
				continue
			}
			idx := loadKeyIndex(t, f.Path)
			// A neutron agent loads neutron.conf's options too (its unit
			// reads neutron.conf first), so its own file may override one
			// of those (rpc_response_timeout), which Debian's agent file
			// does not list.
			var common map[string]bool
			switch {
			case strings.HasPrefix(f.Path, "/etc/neutron/") && strings.Contains(f.Path, "agent"):
				common = loadKeyIndex(t, NeutronConf)
			case f.Path == NovaComputeConf:
				// nova-compute reads nova.conf, then this file, whose
				// Debian copy lists only the driver's few keys.
				common = loadKeyIndex(t, NovaConf)
			}
			for _, s := range f.Sets {
				sec := s.Section
				switch {
				case f.Kind == Flat && sec != "":
					t.Errorf("%s: flat file with section %q", f.Path, sec)
				case f.Kind == Flat:
					sec = "-" // the index's name for "no section"
				case sec == "":
					sec = "DEFAULT"
				}
				if ctx, ok := privsepContexts[f.Path][sec]; ok && ctx != "" {
					// A privsep context's section takes [privsep]'s options.
					if !loadKeyIndex(t, privsepOptionsFile[f.Path])["privsep "+s.Key] {
						t.Errorf("%s: [%s] %s is not a privsep option", f.Path, sec, s.Key)
					}
					continue
				}
				if !idx[sec+" "+s.Key] && !common[sec+" "+s.Key] {
					t.Errorf("%s: [%s] %s is not in Debian's file", f.Path, sec, s.Key)
				}
			}
		}
	}
}

// privsepContexts are, by config file, the sections of the privsep
// contexts its service starts, which no sample file lists (neutron.conf's
// lists [privsep] alone), with where Debian's packages name them
// (cfg_section=...; python3-nova 2:26.2.2, python3-os-vif 3.0.0 and
// python3-neutron 2:21.0.0 on Debian 12, the same names on Debian 13's
// 2:26.0.3).
var privsepContexts = map[string]map[string]string{
	NovaComputeConf: {
		"nova_sys_admin":                   "nova/privsep/__init__.py",
		"vif_plug_linux_bridge_privileged": "vif_plug_linux_bridge/privsep.py",
		"vif_plug_ovs_privileged":          "vif_plug_ovs/privsep.py",
	},
	NeutronConf: {
		"privsep":              "neutron/privileged/__init__.py",
		"privsep_dhcp_release": "neutron/privileged/__init__.py",
		"privsep_ovs_vsctl":    "neutron/privileged/__init__.py",
		"privsep_namespace":    "neutron/privileged/__init__.py",
		"privsep_conntrack":    "neutron/privileged/__init__.py",
		"privsep_link":         "neutron/privileged/__init__.py",
	},
}

// privsepOptionsFile is the Debian file whose [privsep] section lists a
// privsep context's options, by the file that sets them.
var privsepOptionsFile = map[string]string{NovaComputeConf: NovaConf, NeutronConf: NeutronConf}

// paramVariants covers every branch that changes the rendered files.
func paramVariants() []Params {
	base := sampleParams()
	fake := base
	fake.ComputeDriver, fake.VirtType = ComputeFake, VirtKVM
	ro := base
	ro.CgroupControllersReadOnly, ro.KeystoneThreads = true, 1
	web := base
	web.HorizonWebRoot = "/dashboard"
	return []Params{base, fake, ro, web}
}

// TestKeyIndexRejects makes sure the index is selective: keys that do not
// exist in Debian's files are absent.
func TestKeyIndexRejects(t *testing.T) {
	nova := loadKeyIndex(t, NovaConf)
	for _, k := range []string{"DEFAULT os_region_name", "service_user region_name", "keystone_authtoken no_such_key"} {
		if nova[k] {
			t.Errorf("nova.conf index has %q", k)
		}
	}
	if !nova["keystone_authtoken region_name"] || !nova["DEFAULT my_ip"] {
		t.Error("nova.conf index lacks keys it should have")
	}
}

// TestINISetsAcceptedByEditor runs every INI setting through the editor
// that applies them: all must be valid, and applying twice must be stable.
func TestINISetsAcceptedByEditor(t *testing.T) {
	for _, p := range paramVariants() {
		for _, f := range Files(p) {
			if f.Kind != INI {
				continue
			}
			ini := inifile.Parse(nil)
			if err := ini.Apply(f.Sets); err != nil {
				t.Errorf("%s: %v", f.Path, err)
				continue
			}
			once := string(ini.Bytes())
			if err := ini.Apply(f.Sets); err != nil || string(ini.Bytes()) != once {
				t.Errorf("%s: second application changed the file (err %v)", f.Path, err)
			}
		}
	}
}
