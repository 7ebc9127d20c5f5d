package inifile

import (
	"bytes"
	"errors"
	"flag"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files")

func TestParseRoundTripIsByteIdentical(t *testing.T) {
	files, err := filepath.Glob("testdata/debian12/*.conf")
	if err != nil {
		t.Fatal(err)
	}
	more, _ := filepath.Glob("testdata/debian12/*.ini")
	files = append(files, more...)
	if len(files) < 6 {
		t.Fatalf("expected the Debian testdata, found %v", files)
	}
	for _, name := range files {
		data, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		if got := Parse(data).Bytes(); !bytes.Equal(got, data) {
			t.Errorf("%s: round trip changed the file", name)
		}
	}
	odd := []string{"", "\n", "a = b", "[s]\r\na = b\r\n", "  indented first\n", "[unterminated\nk=v", "= no key\n"}
	for _, in := range odd {
		if got := string(Parse([]byte(in)).Bytes()); got != in {
			t.Errorf("round trip of %q gave %q", in, got)
		}
	}
}

func TestGetOnDebianFiles(t *testing.T) {
	tests := []struct {
		file, section, key, want string
		ok                       bool
	}{
		{"nova.conf", "", "state_path", "/var/lib/nova", true},
		{"nova.conf", "DEFAULT", "pybasedir", "/usr/lib/python3/dist-packages", true},
		{"nova.conf", "database", "connection", "sqlite:////var/lib/nova/novadb", true},
		{"nova.conf", "keystone_authtoken", "region_name", "regionOne", true},
		// A value of "=": the first separator splits, the rest is value.
		{"nova.conf", "placement", "username", "=", true},
		// Only commented out in the package.
		{"nova.conf", "DEFAULT", "osapi_compute_workers", "", false},
		{"neutron.conf", "DEFAULT", "core_plugin", "ml2", true},
		{"neutron.conf", "experimental", "linuxbridge", "", false},
		{"nova-logging.conf", "formatter_context", "class", "oslo_log.formatters.ContextFormatter", true},
		{"nova-logging.conf", "formatter_default", "format", "%(message)s", true},
	}
	for _, tt := range tests {
		got, ok, err := Get(filepath.Join("testdata/debian12", tt.file), tt.section, tt.key)
		if err != nil {
			t.Fatal(err)
		}
		if got != tt.want || ok != tt.ok {
			t.Errorf("%s [%s] %s = %q, %v; want %q, %v", tt.file, tt.section, tt.key, got, ok, tt.want, tt.ok)
		}
	}
	if _, ok, err := Get(filepath.Join(t.TempDir(), "absent.conf"), "", "x"); ok || err != nil {
		t.Errorf("missing file: ok=%v err=%v, want not found and no error", ok, err)
	}
}

func TestApply(t *testing.T) {
	tests := []struct {
		name string
		in   string
		sets []Set
		want string
	}{
		{
			name: "replace existing value in place, keep neighbours",
			in:   "[DEFAULT]\n# doc\nfoo = 1\nbar=2\n",
			sets: []Set{{Key: "foo", Value: "x"}},
			want: "[DEFAULT]\n# doc\nfoo = x\nbar=2\n",
		},
		{
			name: "same value leaves the line's own spelling alone",
			in:   "[DEFAULT]\nbar=2\n",
			sets: []Set{{Section: "DEFAULT", Key: "bar", Value: "2"}},
			want: "[DEFAULT]\nbar=2\n",
		},
		{
			name: "new key goes right after its commented default",
			in:   "[DEFAULT]\n# Workers (integer value)\n#workers = <None>\n\n# Other\n#other = 1\n",
			sets: []Set{{Key: "workers", Value: "2"}},
			want: "[DEFAULT]\n# Workers (integer value)\n#workers = <None>\nworkers = 2\n\n# Other\n#other = 1\n",
		},
		{
			name: "commented default in another section does not attract the key",
			in:   "[a]\n#k = 1\n\n[b]\nx = 1\n",
			sets: []Set{{Section: "b", Key: "k", Value: "2"}},
			want: "[a]\n#k = 1\n\n[b]\nx = 1\nk = 2\n",
		},
		{
			name: "after a trailing comment a blank line keeps the key apart from that comment",
			in:   "[a]\n# Some option\n#some = 1\n\n[b]\n",
			sets: []Set{{Section: "a", Key: "k", Value: "v"}},
			want: "[a]\n# Some option\n#some = 1\n\nk = v\n\n[b]\n",
		},
		{
			name: "empty section gets the key right under its header",
			in:   "[a]\n\n[b]\n",
			sets: []Set{{Section: "a", Key: "k", Value: "v"}},
			want: "[a]\nk = v\n\n[b]\n",
		},
		{
			name: "missing section is appended",
			in:   "[DEFAULT]\nfoo = 1\n",
			sets: []Set{{Section: "experimental", Key: "linuxbridge", Value: "true"}, {Section: "experimental", Key: "b", Value: ""}},
			want: "[DEFAULT]\nfoo = 1\n\n[experimental]\nlinuxbridge = true\nb =\n",
		},
		{
			name: "unterminated last line and empty file",
			in:   "[a]\nk = 1",
			sets: []Set{{Section: "a", Key: "j", Value: "2"}},
			want: "[a]\nk = 1\nj = 2\n",
		},
		{
			name: "empty file",
			in:   "",
			sets: []Set{{Key: "a", Value: "1"}},
			want: "[DEFAULT]\na = 1\n",
		},
		{
			name: "delete removes every assignment and its continuation lines",
			in:   "[a]\nk = 1\n  more\nj = 0\nk = 2\n",
			sets: []Set{{Section: "a", Key: "k", Delete: true}},
			want: "[a]\nj = 0\n",
		},
		{
			name: "delete of an absent key is a no-op",
			in:   "[a]\n#k = 1\n",
			sets: []Set{{Section: "a", Key: "k", Delete: true}, {Section: "zz", Key: "k", Delete: true}},
			want: "[a]\n#k = 1\n",
		},
		{
			name: "single Set collapses duplicates into the first position",
			in:   "[a]\nk = 1\nx = 0\nk = 2\n",
			sets: []Set{{Section: "a", Key: "k", Value: "3"}},
			want: "[a]\nk = 3\nx = 0\n",
		},
		{
			name: "repeated Sets make a MultiStrOpt",
			in:   "[DEFAULT]\n#pci_alias =\n",
			sets: []Set{{Key: "pci_alias", Value: "a"}, {Key: "pci_alias", Value: "b"}},
			want: "[DEFAULT]\n#pci_alias =\npci_alias = a\npci_alias = b\n",
		},
		{
			name: "existing MultiStrOpt equal to the desired one is untouched",
			in:   "[DEFAULT]\nm=a\nm = b\n",
			sets: []Set{{Key: "m", Value: "a"}, {Key: "m", Value: "b"}},
			want: "[DEFAULT]\nm=a\nm = b\n",
		},
		{
			name: "delete then set in one call is a set",
			in:   "[a]\nk = 1\n",
			sets: []Set{{Section: "a", Key: "k", Delete: true}, {Section: "a", Key: "k", Value: "2"}},
			want: "[a]\nk = 2\n",
		},
		{
			name: "multi-line value written as continuation lines",
			in:   "[a]\nk = old\n  older\nz = 1\n",
			sets: []Set{{Section: "a", Key: "k", Value: "first\nsecond"}},
			want: "[a]\nk = first\n    second\nz = 1\n",
		},
		{
			name: "percent signs are literal",
			in:   "[f]\nformat = %(message)s\n",
			sets: []Set{{Section: "f", Key: "format", Value: "%(asctime)s %(message)s %%"}},
			want: "[f]\nformat = %(asctime)s %(message)s %%\n",
		},
		{
			name: "colon separator recognised",
			in:   "[a]\nk: 1\n",
			sets: []Set{{Section: "a", Key: "k", Value: "1"}},
			want: "[a]\nk: 1\n",
		},
		{
			name: "CRLF lines kept, new lines use LF",
			in:   "[a]\r\nk = 1\r\n",
			sets: []Set{{Section: "a", Key: "j", Value: "2"}},
			want: "[a]\r\nk = 1\r\nj = 2\n",
		},
		{
			name: "section split in two blocks: replace where it is",
			in:   "[a]\nk = 1\n[b]\nx = 1\n[a]\nj = 1\n",
			sets: []Set{{Section: "a", Key: "j", Value: "2"}, {Section: "a", Key: "n", Value: "3"}},
			want: "[a]\nk = 1\n[b]\nx = 1\n[a]\nj = 2\nn = 3\n",
		},
		{
			name: "indented line after a commented default stays out of our value",
			in:   "[a]\n#k = 1\n  stray\n",
			sets: []Set{{Section: "a", Key: "k", Value: "2"}},
			want: "[a]\n#k = 1\nk = 2\n\n  stray\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := Parse([]byte(tt.in))
			if err := f.Apply(tt.sets); err != nil {
				t.Fatal(err)
			}
			got := string(f.Bytes())
			if got != tt.want {
				t.Fatalf("got\n%q\nwant\n%q", got, tt.want)
			}
			// What we wrote must read back as what was asked, and applying
			// again must change nothing.
			again := Parse([]byte(got))
			for _, d := range mustPlan(t, tt.sets) {
				vals := again.Values(d.id.section, d.id.key)
				if d.delete && len(vals) != 0 || !d.delete && strings.Join(vals, "|") != strings.Join(d.values, "|") {
					t.Errorf("[%s] %s reads back as %q, want %q (delete=%v)", d.id.section, d.id.key, vals, d.values, d.delete)
				}
			}
			if err := again.Apply(tt.sets); err != nil {
				t.Fatal(err)
			}
			if string(again.Bytes()) != got {
				t.Errorf("second Apply changed the file:\n%q", again.Bytes())
			}
		})
	}
}

func mustPlan(t *testing.T, sets []Set) []desired {
	t.Helper()
	ds, err := plan(sets)
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

func TestApplyRejectsUnwritableSets(t *testing.T) {
	bad := []Set{
		{Key: ""},
		{Key: " k"},
		{Key: "a=b"},
		{Key: "a:b"},
		{Key: "#k"},
		{Key: "[k"},
		{Section: "a]", Key: "k"},
		{Section: " a", Key: "k"},
		{Key: "k", Value: " leading"},
		{Key: "k", Value: "trailing "},
		{Key: "k", Value: "a\n\nb"},
		{Key: "k", Value: "a\r\nb"},
	}
	for _, s := range bad {
		f := Parse([]byte("[DEFAULT]\nk = 1\n"))
		err := f.Apply([]Set{{Key: "k", Value: "changed"}, s})
		if !errors.Is(err, ErrInvalidSet) {
			t.Errorf("%+v: err = %v, want ErrInvalidSet", s, err)
		}
		if got := string(f.Bytes()); got != "[DEFAULT]\nk = 1\n" {
			t.Errorf("%+v: file changed despite the error: %q", s, got)
		}
	}
}

// Settings of the kind the installer writes; every key named here exists in
// the Debian files, commented or not.
var goldenCases = []struct {
	file string
	sets []Set
}{
	{"nova.conf", []Set{
		{Key: "my_ip", Value: "192.0.2.10"},
		{Key: "transport_url", Value: "rabbit://openstack:s3cr3t@127.0.0.1:5672/"},
		{Key: "osapi_compute_workers", Value: "2"},
		{Key: "metadata_workers", Value: "2"},
		{Section: "api_database", Key: "connection", Value: "mysql+pymysql://nova:pw@127.0.0.1/nova_api"},
		{Section: "database", Key: "connection", Value: "mysql+pymysql://nova:pw@127.0.0.1/nova"},
		{Section: "keystone_authtoken", Key: "region_name", Value: "RegionOne"},
		{Section: "keystone_authtoken", Key: "password", Value: "pw"},
		{Section: "placement", Key: "username", Value: "placement"},
		{Section: "placement", Key: "region_name", Value: "RegionOne"},
		{Section: "conductor", Key: "workers", Value: "2"},
		{Section: "scheduler", Key: "workers", Value: "2"},
		{Section: "vnc", Key: "server_listen", Value: "192.0.2.10"},
		{Section: "libvirt", Key: "virt_type", Value: "qemu"},
	}},
	{"neutron.conf", []Set{
		{Key: "service_plugins", Value: "router"},
		{Key: "api_workers", Value: "2"},
		{Key: "rpc_workers", Value: "1"},
		{Key: "interface_driver", Value: "linuxbridge"},
		{Section: "experimental", Key: "linuxbridge", Value: "true"},
		{Section: "database", Key: "connection", Value: "mysql+pymysql://neutron:pw@127.0.0.1/neutron"},
		{Section: "keystone_authtoken", Key: "region_name", Value: "RegionOne"},
		{Section: "nova", Key: "region_name", Value: "RegionOne"},
	}},
	{"linuxbridge_agent.ini", []Set{
		{Section: "linux_bridge", Key: "physical_interface_mappings", Value: "provider:eth1"},
		{Section: "vxlan", Key: "enable_vxlan", Value: "true"},
		{Section: "vxlan", Key: "local_ip", Value: "192.0.2.10"},
		{Section: "securitygroup", Key: "firewall_driver", Value: "iptables"},
	}},
}

func TestEditGoldenOnDebianFiles(t *testing.T) {
	for _, gc := range goldenCases {
		t.Run(gc.file, func(t *testing.T) {
			orig, err := os.ReadFile(filepath.Join("testdata/debian12", gc.file))
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(t.TempDir(), gc.file)
			if err := os.WriteFile(path, orig, 0o640); err != nil {
				t.Fatal(err)
			}
			changed, err := Edit(path, gc.sets)
			if err != nil || !changed {
				t.Fatalf("Edit = %v, %v; want changed", changed, err)
			}
			got, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			golden := filepath.Join("testdata/golden", gc.file)
			if *update {
				if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s differs from %s", path, golden)
			}

			// Independently of the golden file: only lines assigning the
			// keys we set may disappear from the package's file.
			touched := map[string]bool{}
			for _, s := range gc.sets {
				touched[s.Key] = true
			}
			for _, l := range removedLines(string(orig), string(got)) {
				k, _, ok := splitKeyValue(l)
				if !ok || !touched[k] {
					t.Errorf("line %q of the package's file was lost", l)
				}
			}
			f := Parse(got)
			for _, s := range gc.sets {
				if v, ok := f.Get(s.Section, s.Key); !ok || v != s.Value {
					t.Errorf("[%s] %s = %q, %v; want %q", s.Section, s.Key, v, ok, s.Value)
				}
			}

			before, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			changed, err = Edit(path, gc.sets)
			if err != nil || changed {
				t.Fatalf("second Edit = %v, %v; want unchanged", changed, err)
			}
			after, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if !after.ModTime().Equal(before.ModTime()) || !os.SameFile(before, after) {
				t.Errorf("second Edit touched the file: mtime %v -> %v, same inode %v", before.ModTime(), after.ModTime(), os.SameFile(before, after))
			}
		})
	}
}

// removedLines returns the lines of a that are not matched, in order, by a
// greedy walk through b; enough to see that edits only inserted and replaced.
func removedLines(a, b string) []string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	var lost []string
	j := 0
	for _, l := range al {
		k := j
		for k < len(bl) && bl[k] != l {
			k++
		}
		if k == len(bl) {
			lost = append(lost, l)
			continue
		}
		j = k + 1
	}
	return lost
}

func TestEditKeepsModeAndOwner(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nova.conf")
	if err := os.WriteFile(path, []byte("[DEFAULT]\n#debug = false\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o640); err != nil {
		t.Fatal(err)
	}
	wantGID := os.Getgid()
	if os.Geteuid() == 0 {
		wantGID = 4242 // a group like "nova", which only root can give away
		if err := os.Chown(path, 0, wantGID); err != nil {
			t.Fatal(err)
		}
	}
	changed, err := Edit(path, []Set{{Key: "debug", Value: "true"}})
	if err != nil || !changed {
		t.Fatalf("Edit = %v, %v", changed, err)
	}
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm() != 0o640 {
		t.Errorf("mode = %v, want 0640", info.Mode().Perm())
	}
	if st := info.Sys().(*syscall.Stat_t); int(st.Gid) != wantGID {
		t.Errorf("gid = %d, want %d", st.Gid, wantGID)
	}
	got, _ := os.ReadFile(path)
	if string(got) != "[DEFAULT]\n#debug = false\ndebug = true\n" {
		t.Errorf("content %q", got)
	}
	leftovers, _ := filepath.Glob(filepath.Join(filepath.Dir(path), ".*"))
	if len(leftovers) != 0 {
		t.Errorf("temporary files left behind: %v", leftovers)
	}
}

func TestEditFollowsSymlink(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "plugins/ml2"), 0o755); err != nil {
		t.Fatal(err)
	}
	target := filepath.Join(dir, "plugins/ml2/ml2_conf.ini")
	if err := os.WriteFile(target, []byte("[ml2]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "plugin.ini")
	if err := os.Symlink("plugins/ml2/ml2_conf.ini", link); err != nil {
		t.Fatal(err)
	}
	if _, err := Edit(link, []Set{{Section: "ml2", Key: "type_drivers", Value: "flat,vxlan"}}); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&fs.ModeSymlink == 0 {
		t.Fatalf("link replaced by a file: %v %v", fi, err)
	}
	if v, _, _ := Get(target, "ml2", "type_drivers"); v != "flat,vxlan" {
		t.Errorf("target not edited: %q", v)
	}
}

func TestEditErrors(t *testing.T) {
	dir := t.TempDir()
	_, err := Edit(filepath.Join(dir, "missing.conf"), []Set{{Key: "a", Value: "b"}})
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v, want ErrNotExist", err)
	}
	path := filepath.Join(dir, "x.conf")
	if err := os.WriteFile(path, []byte("[DEFAULT]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Edit(path, []Set{{Key: "bad=key", Value: "b"}}); !errors.Is(err, ErrInvalidSet) {
		t.Errorf("bad key: %v, want ErrInvalidSet", err)
	}
}

func TestLookUpsStayTrueAcrossEdits(t *testing.T) {
	// Look-ups read an index of the key lines: after each edit (insert,
	// in-place rewrite, multi-line value, delete) every key must read as
	// it does in the same bytes parsed afresh.
	f := Parse([]byte("[DEFAULT]\n#workers = <None>\nfoo = 1\n  more\nbar = 2\n\n[db]\nconnection = a\nbar = 3\nfoo = x\nfoo = y\n"))
	steps := [][]Set{
		{{Key: "workers", Value: "2"}},
		{{Key: "foo", Value: "one\ntwo\nthree"}},
		{{Section: "db", Key: "foo", Value: "z"}},
		{{Section: "new", Key: "region_name", Value: "RegionOne"}, {Key: "bar", Delete: true}},
		{{Key: "foo", Delete: true}, {Section: "db", Key: "bar", Value: "4"}},
		// a no-op and a delete of nothing (the paths that skip the
		// re-index), then an edit that must still find its line
		{{Section: "db", Key: "bar", Value: "4"}, {Key: "nope", Delete: true}, {Section: "db", Key: "connection", Value: "b"}},
	}
	for n, sets := range steps {
		if err := f.Apply(sets); err != nil {
			t.Fatalf("step %d: %v", n, err)
		}
		fresh := Parse(f.Bytes())
		for _, sec := range append([]string{DefaultSection}, fresh.Sections()...) {
			for _, k := range []string{"workers", "foo", "bar", "connection", "region_name"} {
				got, want := f.Values(sec, k), fresh.Values(sec, k)
				if strings.Join(got, "|") != strings.Join(want, "|") {
					t.Errorf("step %d: [%s] %s reads %q after the edit, %q parsed afresh", n, sec, k, got, want)
				}
			}
		}
	}
	if v, _ := f.Get("db", "connection"); v != "b" {
		t.Fatalf("[db] connection = %q after the edits\n%s", v, f.Bytes())
	}
	if v, _ := f.Get("db", "bar"); v != "4" {
		t.Fatalf("[db] bar = %q after the edits\n%s", v, f.Bytes())
	}
}
