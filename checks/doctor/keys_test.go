package doctor

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stacklab/stacklab/checks"
)

const findFernet = "/etc/keystone/fernet-keys\td\tkeystone\tkeystone\t700\n" +
	"/etc/keystone/fernet-keys/0\tf\tkeystone\tkeystone\t600\n" +
	"/etc/keystone/fernet-keys/1\tf\tkeystone\tkeystone\t600\n"

const findHealthy = findFernet + findCredential

const findCredential = "/etc/keystone/credential-keys\td\tkeystone\tkeystone\t700\n" +
	"/etc/keystone/credential-keys/0\tf\tkeystone\tkeystone\t600\n" +
	"/etc/keystone/credential-keys/1\tf\tkeystone\tkeystone\t600\n"

func TestKeysVerdict(t *testing.T) {
	for _, tt := range []struct {
		name    string
		find    string
		status  checks.Status
		summary string
		fix     string
	}{
		{"healthy", findHealthy, checks.OK, "fernet and credential keys present", ""},
		{"fernet empty", strings.ReplaceAll(findHealthy, "/etc/keystone/fernet-keys/0\tf\tkeystone\tkeystone\t600\n/etc/keystone/fernet-keys/1\tf\tkeystone\tkeystone\t600\n", ""),
			checks.Fail, fernetMissing + ": /etc/keystone/fernet-keys holds no key", "keystone-manage fernet_setup --keystone-user keystone --keystone-group keystone && systemctl restart keystone"},
		{"fernet missing", "find: '/etc/keystone/fernet-keys': No such file or directory\n" + findCredential,
			checks.Fail, fernetMissing + ": /etc/keystone/fernet-keys does not exist", "fernet_setup"},
		{"key owned by root", strings.Replace(findHealthy, "fernet-keys/1\tf\tkeystone\tkeystone", "fernet-keys/1\tf\troot\troot", 1),
			checks.Fail, "keystone cannot issue tokens: /etc/keystone/fernet-keys/1 is unreadable to keystone (root:root, mode 0600)", "chown -R keystone:keystone /etc/keystone/fernet-keys"},
		{"directory closed", strings.Replace(findHealthy, "fernet-keys\td\tkeystone\tkeystone\t700", "fernet-keys\td\troot\troot\t700", 1),
			checks.Fail, "/etc/keystone/fernet-keys is closed to keystone", "chmod 0700"},
		{"group-readable key works, but is a warning", strings.Replace(findHealthy, "fernet-keys/0\tf\tkeystone\tkeystone\t600", "fernet-keys/0\tf\tkeystone\tkeystone\t644", 1),
			checks.Warn, "readable by others (mode 0644, want 0600)", "chmod 0600 /etc/keystone/fernet-keys/*"},
		{"no credential keys", strings.ReplaceAll(findHealthy, "credential-keys/", "credential-keys.old/"),
			checks.Warn, "/etc/keystone/credential-keys holds no key", "keystone-manage credential_setup"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := KeysVerdict(KeyEntries(tt.find))
			if r.Status != tt.status || !strings.Contains(r.Summary, tt.summary) || !strings.Contains(r.Fix, tt.fix) {
				t.Errorf("%s %q\nfix %q\nevidence %q", r.Status, r.Summary, r.Fix, r.Evidence)
			}
		})
	}
}

type fernetRepairer struct {
	recordingRepairer
	ran bool
}

func (f *fernetRepairer) SetupFernet(context.Context) (bool, error) {
	f.log = append(f.log, "fernet_setup")
	return f.ran, nil
}

// Empty fernet keys are the root cause of keystone-auth's failure; --fix
// creates them and restarts keystone.
func TestKeystoneKeysRootCause(t *testing.T) {
	w := newWorld(t)
	h := w.deps.Host.(fakeHost)
	h.run = func(name string, _ ...string) ([]byte, error) {
		switch name {
		case "find":
			return []byte("/etc/keystone/fernet-keys\td\tkeystone\tkeystone\t700\n"), nil
		case "mysql":
			return []byte(healthyMySQL), nil
		}
		return []byte("Syntax OK\n"), nil
	}
	w.deps.Host = h
	for _, c := range Checks(w.cfg, w.deps) {
		if c.ID == IDKeystoneAuth && !strings.Contains(strings.Join(c.DependsOn, " "), IDKeystoneKeys) {
			t.Errorf("keystone-auth does not depend on %s: %v", IDKeystoneKeys, c.DependsOn)
		}
	}
	rep := w.run(t)
	if roots := rep.RootCauses(); len(roots) != 1 || roots[0] != IDKeystoneKeys {
		t.Fatalf("roots %v", roots)
	}
	f := &fernetRepairer{ran: true}
	plan := Plan(rep, w.cfg, f)
	if len(plan) != 1 || plan[0].For != IDKeystoneKeys {
		t.Fatalf("plan %+v", plan)
	}
	_ = plan[0].Run(context.Background())
	if got := strings.Join(f.log, "|"); got != "fernet_setup|restart keystone" {
		t.Errorf("repairs %s", got)
	}
}

// The real repair never runs fernet_setup over existing keys.
func TestHostRepairerSetupFernet(t *testing.T) {
	root := t.TempDir()
	var ran []string
	h := HostRepairer{Host: System{Root: root}}
	run := func() (bool, error) {
		return setupFernetWith(context.Background(), h, func(_ context.Context, name string, args ...string) ([]byte, error) {
			ran = append(ran, name+" "+strings.Join(args, " "))
			return nil, nil
		})
	}
	// Missing directory: set up.
	if ok, err := run(); !ok || err != nil || len(ran) != 1 || ran[0] != "keystone-manage fernet_setup --keystone-user keystone --keystone-group keystone" {
		t.Fatalf("missing: %v %v %q", ok, err, ran)
	}
	dir := filepath.Join(root, FernetKeys)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if ok, err := run(); !ok || err != nil || len(ran) != 2 {
		t.Fatalf("empty: %v %v %q", ok, err, ran)
	}
	if err := os.WriteFile(filepath.Join(dir, "0"), []byte("k"), 0o600); err != nil {
		t.Fatal(err)
	}
	if ok, err := run(); ok || err != nil || len(ran) != 2 {
		t.Errorf("keys present: %v %v %q; want nothing run", ok, err, ran)
	}
	// An unreadable repository is an error, not "empty".
	h.Host.Root = string([]byte{0})
	if _, err := run(); err == nil || errors.Is(err, os.ErrNotExist) {
		t.Errorf("bad root: %v", err)
	}
}
