package cloud_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/stacklab/stacklab/internal/cloud"
)

const trickyPassword = `p'a$s "w\o` + "`rd`"

func entry() cloud.CloudEntry {
	return cloud.CloudEntry{
		AuthURL:           "http://10.0.0.5:5000/v3",
		Username:          "admin",
		Password:          trickyPassword,
		ProjectName:       "admin",
		UserDomainName:    "Default",
		ProjectDomainName: "Default",
		RegionName:        "RegionOne",
	}
}

func mode(t *testing.T, file string) os.FileMode {
	t.Helper()
	fi, err := os.Stat(file)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

func readClouds(t *testing.T, file string) map[string]map[string]any {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct{ Clouds map[string]map[string]any }
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatalf("parse written file: %v\n%s", err, b)
	}
	return doc.Clouds
}

func TestWriteCloudsYAMLNewFileUnderRoot(t *testing.T) {
	root := t.TempDir()
	changed, err := cloud.WriteCloudsYAML(root, "", entry())
	if err != nil || !changed {
		t.Fatalf("first write: changed=%v err=%v", changed, err)
	}
	file := filepath.Join(root, cloud.DefaultCloudsFile)
	if m := mode(t, file); m != 0o600 {
		t.Errorf("mode = %o, want 600", m)
	}
	got := readClouds(t, file)["stacklab"]
	auth, _ := got["auth"].(map[string]any)
	if auth["password"] != trickyPassword || auth["auth_url"] != "http://10.0.0.5:5000/v3" ||
		auth["user_domain_name"] != "Default" || auth["project_domain_name"] != "Default" ||
		got["region_name"] != "RegionOne" || got["interface"] != "public" || got["identity_api_version"] != 3 {
		t.Errorf("entry = %v", got)
	}

	before, _ := os.ReadFile(file)
	fi1, _ := os.Stat(file)
	changed, err = cloud.WriteCloudsYAML(root, "", entry())
	if err != nil || changed {
		t.Fatalf("second write: changed=%v err=%v, want no change", changed, err)
	}
	after, _ := os.ReadFile(file)
	fi2, _ := os.Stat(file)
	if !bytes.Equal(before, after) || !fi1.ModTime().Equal(fi2.ModTime()) {
		t.Error("an unchanged entry must leave the file untouched")
	}
	entries, _ := os.ReadDir(filepath.Dir(file))
	if len(entries) != 1 {
		t.Errorf("temporary files left behind: %v", entries)
	}
}

func TestWriteCloudsYAMLMergesAndKeepsOthers(t *testing.T) {
	file := filepath.Join(t.TempDir(), "clouds.yaml")
	orig := `# my clouds
clouds:
  prod:
    auth:
      auth_url: https://keystone.example:5000/v3
      username: me
    region_name: Prod1   # keep me
  stacklab:
    auth:
      auth_url: http://old:5000/v3
`
	if err := os.WriteFile(file, []byte(orig), 0o644); err != nil {
		t.Fatal(err)
	}
	changed, err := cloud.WriteCloudsYAML("", file, entry())
	if err != nil || !changed {
		t.Fatalf("changed=%v err=%v", changed, err)
	}
	clouds := readClouds(t, file)
	if clouds["prod"]["region_name"] != "Prod1" {
		t.Errorf("prod entry lost: %v", clouds["prod"])
	}
	if clouds["stacklab"]["auth"].(map[string]any)["auth_url"] != "http://10.0.0.5:5000/v3" {
		t.Errorf("stacklab entry not replaced: %v", clouds["stacklab"])
	}
	b, _ := os.ReadFile(file)
	if !strings.Contains(string(b), "# my clouds") || !strings.Contains(string(b), "# keep me") {
		t.Errorf("comments lost:\n%s", b)
	}
	if m := mode(t, file); m != 0o600 {
		t.Errorf("mode = %o, want 600", m)
	}
	if changed, err := cloud.WriteCloudsYAML("", file, entry()); err != nil || changed {
		t.Errorf("rewrite: changed=%v err=%v, want no change", changed, err)
	}

	// A new password is a change.
	e := entry()
	e.Password = "new"
	if changed, err := cloud.WriteCloudsYAML("", file, e); err != nil || !changed {
		t.Errorf("new password: changed=%v err=%v", changed, err)
	}
	if got := readClouds(t, file)["stacklab"]["auth"].(map[string]any)["password"]; got != "new" {
		t.Errorf("password = %v", got)
	}
}

func TestWriteCloudsYAMLFixesMode(t *testing.T) {
	file := filepath.Join(t.TempDir(), "clouds.yaml")
	if _, err := cloud.WriteCloudsYAML("", file, entry()); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(file, 0o644); err != nil {
		t.Fatal(err)
	}
	changed, err := cloud.WriteCloudsYAML("", file, entry())
	if err != nil || !changed {
		t.Fatalf("changed=%v err=%v, want a change (mode)", changed, err)
	}
	if m := mode(t, file); m != 0o600 {
		t.Errorf("mode = %o", m)
	}
}

func TestWriteCloudsYAMLEdgeFiles(t *testing.T) {
	for name, content := range map[string]string{
		"empty":       "",
		"null clouds": "clouds:\n",
		"no clouds":   "client:\n  force_ipv4: true\n",
	} {
		t.Run(name, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "clouds.yaml")
			if err := os.WriteFile(file, []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
			if _, err := cloud.WriteCloudsYAML("", file, entry()); err != nil {
				t.Fatal(err)
			}
			if _, ok := readClouds(t, file)["stacklab"]; !ok {
				t.Error("entry missing")
			}
		})
	}
}

func TestWriteCloudsYAMLRefusesGarbage(t *testing.T) {
	file := filepath.Join(t.TempDir(), "clouds.yaml")
	for _, content := range []string{"clouds: [\n", "- a\n- b\n", "clouds: [a, b]\n"} {
		if err := os.WriteFile(file, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := cloud.WriteCloudsYAML("", file, entry()); err == nil {
			t.Errorf("%q: want an error, not an overwrite", content)
		}
		if b, _ := os.ReadFile(file); string(b) != content {
			t.Errorf("%q: file modified to %q", content, b)
		}
	}
}

func TestWriteCloudsYAMLValidates(t *testing.T) {
	e := entry()
	e.RegionName = ""
	e.Password = ""
	_, err := cloud.WriteCloudsYAML("", filepath.Join(t.TempDir(), "c.yaml"), e)
	if err == nil || !strings.Contains(err.Error(), "region_name") || !strings.Contains(err.Error(), "password") {
		t.Errorf("err = %v", err)
	}
}

func TestWriteOpenRC(t *testing.T) {
	root := t.TempDir()
	changed, err := cloud.WriteOpenRC(root, "", entry())
	if err != nil || !changed {
		t.Fatalf("changed=%v err=%v", changed, err)
	}
	file := filepath.Join(root, cloud.DefaultOpenRC)
	if m := mode(t, file); m != 0o600 {
		t.Errorf("mode = %o", m)
	}
	if changed, err := cloud.WriteOpenRC(root, "", entry()); err != nil || changed {
		t.Errorf("second write: changed=%v err=%v", changed, err)
	}

	// The shell must read back exactly what we wrote, quotes and all.
	out, err := exec.Command("sh", "-c", `. "$1" && printf '%s|%s|%s|%s' "$OS_PASSWORD" "$OS_AUTH_URL" "$OS_REGION_NAME" "$OS_IDENTITY_API_VERSION"`, "sh", file).CombinedOutput()
	if err != nil {
		t.Fatalf("sourcing openrc: %v\n%s", err, out)
	}
	if want := trickyPassword + "|http://10.0.0.5:5000/v3|RegionOne|3"; string(out) != want {
		t.Errorf("sourced values = %q, want %q", out, want)
	}
}

func TestSecretsNeverPrinted(t *testing.T) {
	e := entry()
	var logBuf bytes.Buffer
	slog.New(slog.NewJSONHandler(&logBuf, nil)).Info("entry", "entry", e, "pw", e.Password)
	js, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	ym, err := yaml.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	outputs := map[string]string{
		"%v": fmt.Sprintf("%v", e), "%+v": fmt.Sprintf("%+v", e), "%#v": fmt.Sprintf("%#v", e),
		"%s":   fmt.Sprintf("%s", e.Password), //nolint:staticcheck // the verb itself is under test
		"%q":   fmt.Sprintf("%q", e.Password),
		"%x":   fmt.Sprintf("%x", e.Password),
		"ptr":  fmt.Sprintf("%+v", &e),
		"json": string(js), "yaml": string(ym), "slog": logBuf.String(),
	}
	for _, how := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "ptr", "json", "yaml", "slog"} {
		if _, ok := outputs[how]; !ok {
			t.Errorf("no %s case: the test would not notice its leak", how)
		}
	}
	for how, out := range outputs {
		if strings.Contains(out, "a$s") || strings.Contains(out, fmt.Sprintf("%x", trickyPassword)) {
			t.Errorf("%s leaks the password: %s", how, out)
		}
	}
	if !strings.Contains(outputs["%+v"], "[redacted]") || !strings.Contains(outputs["json"], "[redacted]") {
		t.Errorf("redaction marker missing: %s / %s", outputs["%+v"], outputs["json"])
	}
	if e.Password.Reveal() != trickyPassword {
		t.Error("Reveal must return the value")
	}
}
