package installer

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/stacklab/stacklab/installer/openstack"
)

// Every local user can read /proc/PID/cmdline: no command the installer
// runs may carry a password in its argv. They reach keystone-manage and
// rabbitmqctl through the environment and standard input instead.
func TestNoPasswordOnAnyCommandLine(t *testing.T) {
	p := labParams()
	m := NewMemHost(p)
	if _, err := runLab(t, m, false, Selection{}); err != nil {
		t.Fatalf("run: %v", err)
	}
	secrets := p.Secrets.Values()
	if len(secrets) == 0 {
		t.Fatal("no secrets to look for")
	}
	var bootstrapEnv, rabbitStdin bool
	for _, c := range m.Commands {
		line := strings.Join(c.Argv, " ")
		for _, s := range secrets {
			if strings.Contains(line, s) {
				t.Errorf("a password is on the command line of %q", redactAll(c.Argv, secrets))
			}
		}
		switch {
		case len(c.Argv) > 1 && c.Argv[0] == "keystone-manage" && c.Argv[1] == "bootstrap":
			bootstrapEnv = slices.Contains(c.Env, "OS_BOOTSTRAP_PASSWORD="+p.AdminPassword)
		case len(c.Argv) > 1 && c.Argv[0] == "rabbitmqctl" && c.Argv[1] == "change_password":
			rabbitStdin = c.Stdin == p.Rabbit+"\n"
		}
	}
	if !bootstrapEnv {
		t.Error("keystone-manage bootstrap ran without OS_BOOTSTRAP_PASSWORD in its environment")
	}
	if !rabbitStdin {
		t.Error("rabbitmqctl change_password ran without the password on its standard input")
	}
}

// A changed password must re-run the command that sets it, though it is
// no longer in the argv the marker used to digest; the marker holds only
// a digest, never the password.
func TestMarkerCoversEnvAndStdin(t *testing.T) {
	base := openstack.Command{Name: "keystone-bootstrap", User: "keystone", Argv: []string{"keystone-manage", "bootstrap"}}
	a, b := base, base
	a.Env = []string{"OS_BOOTSTRAP_PASSWORD=first-password"}
	b.Env = []string{"OS_BOOTSTRAP_PASSWORD=second-password"}
	if markerContent("1", a) == markerContent("1", b) {
		t.Error("a new password in Env leaves the marker unchanged: the command would not re-run")
	}
	c, d := base, base
	c.Stdin, d.Stdin = "first-password\n", "second-password\n"
	if markerContent("1", c) == markerContent("1", d) {
		t.Error("a new password on Stdin leaves the marker unchanged: the command would not re-run")
	}
	for _, mc := range []string{markerContent("1", a), markerContent("1", c)} {
		if strings.Contains(mc, "first-password") {
			t.Errorf("marker holds the password: %q", mc)
		}
	}
	// Markers of commands without Env or Stdin, written by earlier
	// versions, stay valid: a db sync is not re-run for nothing.
	sum := sha256.Sum256([]byte("keystone\x00keystone-manage\x00bootstrap"))
	if got, want := markerContent("1", base), "version 1\ncommand sha256:"+hex.EncodeToString(sum[:])+"\n"; got != want {
		t.Errorf("marker of a plain command = %q, want the earlier format %q", got, want)
	}
}

func TestChangedAdminPasswordRerunsBootstrap(t *testing.T) {
	m := installed(t)
	m.TakeLog()
	m.p.AdminPassword = "a-new-admin-password"
	m.Commands = nil
	if _, err := runLab(t, m, false, Selection{}); err != nil {
		t.Fatalf("second run: %v", err)
	}
	ran := slices.ContainsFunc(m.Commands, func(c Cmd) bool {
		return len(c.Argv) > 1 && c.Argv[0] == "keystone-manage" && c.Argv[1] == "bootstrap" &&
			slices.Contains(c.Env, "OS_BOOTSTRAP_PASSWORD=a-new-admin-password")
	})
	if !ran {
		t.Error("keystone-manage bootstrap did not re-run with the new admin password")
	}
}

func TestExecRunnerPassesEnvOutsideArgv(t *testing.T) {
	ctx := context.Background()
	out, err := ExecRunner{}.Run(ctx, Cmd{Argv: []string{"sh", "-c", `printf %s "$STACKLAB_TEST_PW"`}, Env: []string{"STACKLAB_TEST_PW=env-s3cret"}})
	if err != nil || string(out) != "env-s3cret" {
		t.Fatalf("env did not reach the command: %q %v", out, err)
	}
	_, err = ExecRunner{}.Run(ctx, Cmd{
		Argv: []string{"sh", "-c", "exit 4"}, Env: []string{"STACKLAB_TEST_PW=env-s3cret"}, Stdin: "stdin-s3cret\n",
		Redact: []string{"env-s3cret", "stdin-s3cret"},
	})
	var ee *ExecError
	if !errors.As(err, &ee) || ee.ExitCode != 4 {
		t.Fatalf("err %v, want exit status 4", err)
	}
	if msg := err.Error(); strings.Contains(msg, "s3cret") {
		t.Errorf("error shows a secret: %s", msg)
	}
}
