package apt

import (
	"os"
	"path/filepath"
	"testing"
)

// The exclude file exists only while it is held: written fresh, adopted
// from an interrupted run (and then removed), a foreign one left alone.
func TestSkipTestsBytecodeFile(t *testing.T) {
	for _, tc := range []struct {
		name, before  string // "" = no file
		during, after string
	}{
		{"fresh host", "", testsBytecode, ""},
		{"left by an interrupted run", testsBytecodeMarker + "\nre|-|/old/|.*\n", testsBytecodeMarker + "\nre|-|/old/|.*\n", ""},
		{"someone else's", "re|-|/usr/lib/python3/dist-packages/|.*/vendored/.*\n", "re|-|/usr/lib/python3/dist-packages/|.*/vendored/.*\n", "re|-|/usr/lib/python3/dist-packages/|.*/vendored/.*\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			path := filepath.Join(root, testsBytecodePath)
			if tc.before != "" {
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, []byte(tc.before), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			release, err := skipTestsBytecode(root)
			if err != nil {
				t.Fatal(err)
			}
			if data, err := os.ReadFile(path); err != nil || string(data) != tc.during {
				t.Errorf("while held: %q, %v; want %q", data, err, tc.during)
			}
			for i := 0; i < 2; i++ {
				if err := release(); err != nil {
					t.Fatalf("release %d: %v", i+1, err)
				}
			}
			data, err := os.ReadFile(path)
			switch {
			case tc.after == "" && !os.IsNotExist(err):
				t.Errorf("after release: %q, %v; want no file", data, err)
			case tc.after != "" && string(data) != tc.after:
				t.Errorf("after release: %q, %v; want %q", data, err, tc.after)
			}
			if tc.after == "" {
				if _, err := os.Stat(filepath.Dir(path)); !os.IsNotExist(err) {
					t.Errorf("the empty bcep directory was left: %v", err)
				}
			}
		})
	}
}
