package openstack

import (
	"os"
	"strings"
	"testing"
)

func TestEditPythonSettings(t *testing.T) {
	tests := []struct {
		name     string
		in       string
		settings []PySetting
		want     string
	}{
		{
			name:     "replace one line",
			in:       "import os\nDEBUG = False\nTIME_ZONE = \"UTC\"\n",
			settings: []PySetting{{"TIME_ZONE", `"Europe/Paris"`}},
			want:     "import os\nDEBUG = False\nTIME_ZONE = \"Europe/Paris\"\n",
		},
		{
			name:     "replace multi-line dict, brackets in strings and comments",
			in:       "A = 1\nCACHES = {\n    'default': {  # a } comment\n        'LOCATION': '[x',\n    },\n}\nB = 2\n",
			settings: []PySetting{{"CACHES", "{}"}},
			want:     "A = 1\nCACHES = {}\nB = 2\n",
		},
		{
			name:     "replace parenthesised call spanning lines",
			in:       "SECRET_KEY = secret_key.generate_or_read_from_file(\n    os.path.join(\"/\", 'x'))\nX = 1\n",
			settings: []PySetting{{"SECRET_KEY", "'k'"}},
			want:     "SECRET_KEY = 'k'\nX = 1\n",
		},
		{
			name:     "backslash continuation and triple-quoted string",
			in:       "A = 1 + \\\n    2\nDOC = \"\"\"\nB = 3\n\"\"\"\nB = 4\n",
			settings: []PySetting{{"A", "3"}, {"B", "5"}},
			want:     "A = 3\nDOC = \"\"\"\nB = 3\n\"\"\"\nB = 5\n",
		},
		{
			name:     "commented, indented and compared names are left alone",
			in:       "#WEBROOT = '/'\nif x:\n    WEBROOT = '/a/'\nif WEBROOT == '/':\n    pass\nWEBROOTS = 1\n",
			settings: []PySetting{{"WEBROOT", "'/horizon/'"}},
			want:     "#WEBROOT = '/'\nif x:\n    WEBROOT = '/a/'\nif WEBROOT == '/':\n    pass\nWEBROOTS = 1\n\n" + PyMarker + "\nWEBROOT = '/horizon/'\n",
		},
		{
			name:     "every top-level assignment is replaced",
			in:       "X = 1\nY = 2\nX = [\n 3]\n",
			settings: []PySetting{{"X", "4"}},
			want:     "X = 4\nY = 2\nX = 4\n",
		},
		{
			name:     "append to a file without final newline",
			in:       "A = 1",
			settings: []PySetting{{"B", "2"}, {"C", "3"}},
			want:     "A = 1\n\n" + PyMarker + "\nB = 2\nC = 3\n",
		},
		{
			name:     "append under an existing marker",
			in:       "A = 1\n\n" + PyMarker + "\nB = 2\n",
			settings: []PySetting{{"B", "2"}, {"C", "3"}},
			want:     "A = 1\n\n" + PyMarker + "\nB = 2\nC = 3\n",
		},
		{
			name:     "empty file",
			in:       "",
			settings: []PySetting{{"A", "1"}},
			want:     PyMarker + "\nA = 1\n",
		},
		{
			name:     "a file ending inside brackets is left alone",
			in:       "A = [\nB = 1\n",
			settings: []PySetting{{"B", "2"}},
			want:     "A = [\nB = 1\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, changed := EditPythonSettings(tt.in, tt.settings)
			if got != tt.want {
				t.Fatalf("got\n%s\nwant\n%s", got, tt.want)
			}
			if changed != (tt.in != tt.want) {
				t.Errorf("changed = %v", changed)
			}
			again, changed := EditPythonSettings(got, tt.settings)
			if changed || again != got {
				t.Errorf("not idempotent: second run gave\n%s", again)
			}
		})
	}
}

func TestCheckPythonSettings(t *testing.T) {
	for in, ok := range map[string]bool{
		"":                true,
		"A = 1":           true,
		"A = [\n 1]\n":    true,
		"A = 'x\nB = 1\n": true, // a syntax error, but it ends where the line does
		"A = [\n":         false,
		"A = '''\n":       false,
		"A = 1 + \\":      false,
	} {
		if err := CheckPythonSettings(in); (err == nil) != ok {
			t.Errorf("CheckPythonSettings(%q) = %v, want ok=%v", in, err, ok)
		}
	}
}

func TestPyStatementsCoverInput(t *testing.T) {
	src, err := os.ReadFile("testdata/horizon/local_settings.py")
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	names := map[string]bool{}
	for _, st := range pyStatements(string(src)) {
		text := string(src)[st.start:st.end]
		b.WriteString(text)
		if m := pyAssignRE.FindStringSubmatch(text); m != nil {
			names[m[1]] = true
		}
	}
	if b.String() != string(src) {
		t.Fatal("statements do not concatenate to the input")
	}
	// The real file's top-level assignments, multi-line ones included.
	for _, n := range []string{"DEBUG", "SECRET_KEY", "OPENSTACK_HOST", "OPENSTACK_KEYSTONE_URL", "TIME_ZONE", "LOGGING", "SECURITY_GROUP_RULES"} {
		if !names[n] {
			t.Errorf("%s not found as a top-level assignment", n)
		}
	}
	for _, n := range []string{"CACHES", "ALLOWED_HOSTS", "WEBROOT", "handlers"} {
		if names[n] {
			t.Errorf("%s found as a top-level assignment; it is commented out or nested", n)
		}
	}
}

// TestHorizonFilesOnRealDebianFiles applies the rendered Horizon settings
// to Debian 12's real files (testdata/horizon, Apache-2.0, from
// openstack-dashboard 3:23.0.0-5+deb12u2) and compares with golden files.
func TestHorizonFilesOnRealDebianFiles(t *testing.T) {
	real := map[string]string{
		HorizonSettings:       "horizon/local_settings.py",
		HorizonWebRootSnippet: "horizon/_0005_debian_webroot.py",
		HorizonCacheSnippet:   "horizon/_0006_debian_cache.py",
	}
	n := 0
	for _, f := range Files(sampleParams()) {
		if f.Kind != PythonSettings {
			continue
		}
		n++
		src, ok := real[f.Path]
		if !ok {
			t.Errorf("%s: no real Debian file in testdata", f.Path)
			continue
		}
		in, err := os.ReadFile("testdata/" + src)
		if err != nil {
			t.Fatal(err)
		}
		out, changed := EditPythonSettings(string(in), f.Settings)
		if !changed {
			t.Errorf("%s: nothing changed", f.Path)
		}
		golden(t, src+".golden", out)
		if again, changed := EditPythonSettings(out, f.Settings); changed || again != out {
			t.Errorf("%s: second application changed the file", f.Path)
		}
	}
	if n != len(real) {
		t.Errorf("%d Python settings files, want %d", n, len(real))
	}
}
