package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/urfave/cli/v3"

	"github.com/stacklab/stacklab/checks"
	"github.com/stacklab/stacklab/checks/doctor"
	"github.com/stacklab/stacklab/checks/doctor/labfind"
	"github.com/stacklab/stacklab/internal/cloud"
)

func credsWith(t *testing.T, args ...string) (*cloud.CloudEntry, string, error) {
	t.Helper()
	var (
		e   *cloud.CloudEntry
		why string
		err error
	)
	cmd := &cli.Command{
		Name:  "doctor",
		Flags: []cli.Flag{&cli.StringFlag{Name: "openrc"}, &cli.StringFlag{Name: "os-cloud"}},
		Action: func(_ context.Context, c *cli.Command) error {
			e, why, _, err = handMadeCreds(doctorOptionsFrom(c))
			return nil
		},
	}
	if rerr := cmd.Run(context.Background(), append([]string{"doctor"}, args...)); rerr != nil {
		t.Fatal(rerr)
	}
	return e, why, err
}

func clearOS(t *testing.T) {
	for _, k := range []string{"OS_AUTH_URL", "OS_USERNAME", "OS_PASSWORD", "OS_PROJECT_NAME", "OS_USER_DOMAIN_NAME",
		"OS_PROJECT_DOMAIN_NAME", "OS_REGION_NAME", "OS_INTERFACE", "OS_CLOUD", "OS_CLIENT_CONFIG_FILE"} {
		t.Setenv(k, "")
	}
}

func TestHandMadeCreds(t *testing.T) {
	clearOS(t)
	t.Run("nothing: no error, a reason", func(t *testing.T) {
		e, why, err := credsWith(t)
		if err != nil || e != nil || !strings.Contains(why, "OS_AUTH_URL") {
			t.Errorf("got %v %q %v", e, why, err)
		}
	})
	t.Run("a sourced admin-openrc", func(t *testing.T) {
		t.Setenv("OS_AUTH_URL", "http://10.0.0.11:5000/v3")
		t.Setenv("OS_USERNAME", "admin")
		t.Setenv("OS_PASSWORD", "envPASS_1")
		e, _, err := credsWith(t)
		if err != nil || e == nil || e.Password.Reveal() != "envPASS_1" || e.UserDomainName != "Default" {
			t.Errorf("got %+v %v", e, err)
		}
	})
	t.Run("--openrc, read not run", func(t *testing.T) {
		f := filepath.Join(t.TempDir(), "admin-openrc")
		if err := os.WriteFile(f, []byte("export OS_USERNAME=admin\nexport OS_PASSWORD=fileP4ss\nexport OS_AUTH_URL=http://controller:5000/v3\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		e, _, err := credsWith(t, "--openrc", f)
		if err != nil || e == nil || e.Password.Reveal() != "fileP4ss" || e.AuthURL != "http://controller:5000/v3" {
			t.Errorf("got %+v %v", e, err)
		}
	})
	t.Run("--openrc needing a shell is refused without quoting it", func(t *testing.T) {
		f := filepath.Join(t.TempDir(), "admin-openrc")
		if err := os.WriteFile(f, []byte("export OS_PASSWORD=$(pass show lab)\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		_, _, err := credsWith(t, "--openrc", f)
		if !errors.Is(err, labfind.ErrNeedsShell) || strings.Contains(err.Error(), "pass show") {
			t.Errorf("got %v", err)
		}
	})
}

// On a lab stacklab did not build, --fix changes nothing and says why.
func TestDoctorFixOnHandMadeLabOnlyReads(t *testing.T) {
	lab := &fakeLab{}
	te, skip := doctorEnv(t, lab, true)
	inner := te.d.setup
	te.d.setup = func(ctx context.Context, o doctorOptions) (doctorSetup, error) {
		s, err := inner(ctx, o)
		s.cfg.HandMade, s.repairer, s.noFixWhy = true, nil, handMadeFixWhy
		return s, err
	}
	r := runDoctor(t, te, append([]string{"doctor", "--fix", "--yes"}, skip...)...)
	if r.code != exitFailed || !strings.Contains(r.stdout, handMadeFixWhy) {
		t.Fatalf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if strings.Contains(r.stdout, "stacklab install") || strings.Contains(r.stdout, "stacklab doctor --fix") {
		t.Errorf("stacklab-only advice on a hand-made lab:\n%s", r.stdout)
	}
}

// The support bundle of a hand-made lab holds its configuration files and
// report with every password found redacted: the files' own, the
// transport_url's and the admin-openrc's, even where a check quoted one.
func TestHandMadeBundleHoldsNoSecret(t *testing.T) {
	root := t.TempDir()
	nova := filepath.Join(root, "etc", "nova", "nova.conf")
	if err := os.MkdirAll(filepath.Dir(nova), 0o755); err != nil {
		t.Fatal(err)
	}
	conf := "[DEFAULT]\nmy_ip = 10.0.0.11\ntransport_url = rabbit://openstack:RABBIT_Pw_1@controller:5672/\n" +
		"[database]\nconnection = mysql+pymysql://nova:NOVA_DB_Pw@controller/nova\n" +
		"[keystone_authtoken]\npassword = NOVA_Pw_2\n"
	if err := os.WriteFile(nova, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	lab, err := labfind.Discover(root)
	if err != nil {
		t.Fatal(err)
	}
	creds := &cloud.CloudEntry{Username: "admin", Password: "ADMIN_Pw_3"}
	te, skip := doctorEnv(t, &fakeLab{active: true}, true)
	inner := te.d.setup
	te.d.setup = func(ctx context.Context, o doctorOptions) (doctorSetup, error) {
		s, err := inner(ctx, o)
		s.cfg.HandMade, s.repairer, s.noFixWhy = true, nil, handMadeFixWhy
		s.redact = labfind.Redactor(labfind.Secrets(lab, creds))
		s.files = []string{nova}
		s.extra = func() []checks.Check {
			return []checks.Check{{ID: "quotes-secrets", Title: "a check that quotes what it read", Run: func(context.Context) checks.Result {
				return checks.Failf("login as admin/ADMIN_Pw_3 refused", "rabbitmqctl change_password openstack RABBIT_Pw_1", conf)
			}}}
		}
		return s, err
	}
	out := filepath.Join(t.TempDir(), "bundle.tar.gz")
	r := runDoctor(t, te, append([]string{"doctor", "--bundle", out}, skip...)...)
	if r.code != exitFailed {
		t.Fatalf("exit %d: %s%s", r.code, r.stdout, r.stderr)
	}
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	var all bytes.Buffer
	tr := tar.NewReader(zr)
	names := 0
	for {
		if _, err := tr.Next(); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		names++
		if _, err := io.Copy(&all, tr); err != nil {
			t.Fatal(err)
		}
	}
	all.WriteString(r.stdout + r.stderr)
	if !strings.Contains(all.String(), "my_ip = 10.0.0.11") {
		t.Fatalf("nova.conf is not in the bundle (%d entries): the test proves nothing", names)
	}
	for _, pw := range []string{"RABBIT_Pw_1", "NOVA_DB_Pw", "NOVA_Pw_2", "ADMIN_Pw_3"} {
		if strings.Contains(all.String(), pw) {
			t.Errorf("%s in the bundle or output", pw)
		}
	}
}

// On a hand-made lab --fix offers unit restarts only, each asked for: with
// no terminal and no --yes nothing runs; with --yes the failed unit is
// restarted and re-checked.
func TestDoctorFixOnHandMadeLabAsksEachRestart(t *testing.T) {
	lab := &fakeLab{}
	te, skip := doctorEnv(t, lab, true)
	inner := te.d.setup
	var restarted []string
	te.d.setup = func(ctx context.Context, o doctorOptions) (doctorSetup, error) {
		s, err := inner(ctx, o)
		s.cfg.HandMade, s.repairer, s.noFixWhy, s.askEach = true, nil, handMadeFixWhy, true
		cfg := s.cfg
		s.plan = func(rep checks.Report) []doctor.Repair {
			return doctor.PlanHandMade(rep, cfg, func(ctx context.Context, u string) error {
				restarted = append(restarted, u)
				return lab.Restart(ctx, u)
			}, nil)
		}
		return s, err
	}
	r := runDoctor(t, te, append([]string{"doctor", "--fix"}, skip...)...)
	if r.code == exitOK || len(restarted) != 0 || !strings.Contains(r.stderr, "--yes") {
		t.Fatalf("no terminal, no --yes: exit %d, restarted %v\n%s%s", r.code, restarted, r.stdout, r.stderr)
	}
	r = runDoctor(t, te, append([]string{"doctor", "--fix", "--yes"}, skip...)...)
	if len(restarted) != 1 || restarted[0] != "memcached" || !strings.Contains(r.stdout, "restart memcached") {
		t.Fatalf("--yes: restarted %v, exit %d\n%s%s", restarted, r.code, r.stdout, r.stderr)
	}
	// The repairs are listed, and nothing says there are none.
	if !strings.Contains(r.stdout, "repairs:\n  - restart memcached") || strings.Contains(r.stdout, "no repairs here") {
		t.Errorf("--yes: the plan is not what the report shows:\n%s", r.stdout)
	}
}
