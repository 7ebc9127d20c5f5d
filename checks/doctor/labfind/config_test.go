package labfind

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stacklab/stacklab/checks"
	"github.com/stacklab/stacklab/checks/doctor"
	"github.com/stacklab/stacklab/internal/cloud"
	"github.com/stacklab/stacklab/internal/systemd"
)

func guideLab(t *testing.T) (string, Lab) {
	t.Helper()
	root := t.TempDir()
	write(t, root, merge(map[string]string{
		NovaConf: novaConf, HostsFile: hosts, HorizonConf: localSettings,
		ML2Conf: ml2Conf, LinuxbridgeIn: lbAgent, GlanceConf: glanceConf,
	}, units("mariadb", "rabbitmq-server", "memcached", "keystone", "apache2")))
	l, err := Discover(root)
	if err != nil {
		t.Fatal(err)
	}
	return root, l
}

var adminCreds = &cloud.CloudEntry{Name: "environment", AuthURL: "http://controller:5000/v3", Username: "admin",
	Password: "ADMIN_PASS_77", ProjectName: "admin", UserDomainName: "Default", ProjectDomainName: "Default", RegionName: "RegionOne"}

func TestConfigWithCredentials(t *testing.T) {
	_, l := guideLab(t)
	cfg := Config(l, Host{Hostname: "controller", RouteIP: "10.0.2.15", Root: true, Creds: adminCreds})
	if !cfg.Lab || !cfg.HandMade || cfg.MgmtIP != "10.0.0.11" || cfg.HorizonURL != "http://10.0.0.11/horizon" ||
		cfg.KeystoneURL != "http://controller:5000/v3" || cfg.RabbitUser != "openstack" || cfg.AdminUser != "admin" || cfg.Region != "RegionOne" {
		t.Errorf("got %+v", cfg)
	}
	// Only the question a hand-made lab cannot answer is left out.
	if len(cfg.Unavailable) != 1 || cfg.Unavailable[doctor.IDMgmtAddress] == "" {
		t.Errorf("unavailable: %v", cfg.Unavailable)
	}
}

func TestConfigSaysWhatWouldLetEachCheckRun(t *testing.T) {
	root := t.TempDir()
	write(t, root, merge(map[string]string{NovaConf: "[DEFAULT]\n"}, units("mariadb", "keystone")))
	l, err := Discover(root)
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config(l, Host{RouteIP: "192.0.2.5", CredsWhy: "OS_AUTH_URL, OS_USERNAME, OS_PASSWORD not set"})
	if cfg.MgmtIP != "192.0.2.5" {
		t.Errorf("no address in the configuration: want the default route's, got %q", cfg.MgmtIP)
	}
	for _, tc := range []struct{ id, want string }{
		{doctor.IDKeystoneAuth, "admin-openrc"},
		{doctor.IDKeystoneAuth, "OS_PASSWORD not set"},
		{doctor.IDDashboardLogin, "--openrc FILE"},
		{doctor.IDRabbitMQ, "transport_url"},
		{doctor.IDMariaDB, "sudo -E"},
		{doctor.IDKeystone, "OS_AUTH_URL"},
	} {
		if got := cfg.Unavailable[tc.id]; !strings.Contains(got, tc.want) {
			t.Errorf("%s: reason %q lacks %q", tc.id, got, tc.want)
		}
	}
}

type activeUnits struct{}

func (activeUnits) States(_ context.Context, units ...string) ([]systemd.UnitState, error) {
	var out []systemd.UnitState
	for _, u := range units {
		out = append(out, systemd.UnitState{Name: u + ".service", LoadState: "loaded", ActiveState: "failed", SubState: "failed", Result: "exit-code"})
	}
	return out, nil
}
func (activeUnits) JournalTail(context.Context, string, int) ([]string, error) {
	return []string{"connection to rabbit://openstack:RABBIT_PASS_x9@controller:5672 refused"}, nil
}
func (activeUnits) BootTime(context.Context) (time.Time, error) {
	return time.Now().Add(-time.Hour), nil
}

type dirHost struct{ l Lab }

func (dirHost) DiskUsage(string) (float64, error) { return 40, nil }
func (h dirHost) ReadFile(p string) ([]byte, error) {
	if p == NovaConf {
		return []byte(novaConf), nil
	}
	return nil, errors.New("absent")
}
func (dirHost) Readlink(string) (string, error)  { return "", errors.New("absent") }
func (dirHost) ReadDir(string) ([]string, error) { return nil, nil }
func (dirHost) Run(context.Context, string, ...string) ([]byte, error) {
	return []byte("ERROR 1045: Access denied for user 'nova'@'localhost' (using password: NOVA_DBPASS)"), errors.New("exit 1")
}

// A whole doctor run over a broken hand-made lab: no secret of its files
// or of the admin-openrc reaches the report, whatever the checks quote.
// Nothing leaves loopback: every dial fails here.
func TestHandMadeReportHoldsNoSecret(t *testing.T) {
	_, l := guideLab(t)
	cfg := Config(l, Host{Hostname: "controller", Root: true, Creds: adminCreds})
	cfg.Probe = 200 * time.Millisecond
	noNet := func(context.Context, string, string) (net.Conn, error) { return nil, errors.New("no network in tests") }
	deps := doctor.Deps{
		Units: activeUnits{}, Host: dirHost{l},
		HTTP: &http.Client{Transport: &http.Transport{DialContext: noNet}},
		Dial: noNet,
		Cloud: func(context.Context) (*cloud.Cloud, error) {
			return nil, errors.New("auth at http://admin:ADMIN_PASS_77@controller:5000/v3 failed")
		},
	}
	redact := Redactor(Secrets(l, adminCreds))
	list := RedactChecks(doctor.Checks(cfg, deps), redact) // as cmd/stacklab wires it
	rep, err := checks.Run(context.Background(), list, checks.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := rep.WriteJSON(&out); err != nil {
		t.Fatal(err)
	}
	_ = rep.WriteText(&out, checks.TextOptions{Verbose: true})
	if !rep.Failed() {
		t.Fatal("the broken lab did not fail: the test proves nothing")
	}
	for _, s := range []string{"RABBIT_PASS_x9", "NOVA_DBPASS", "NOVA_PASS", "ADMIN_PASS_77"} {
		if strings.Contains(out.String(), s) {
			t.Errorf("secret %s in the report", s)
		}
	}
	if !strings.Contains(out.String(), "[redacted]") {
		t.Error("nothing was redacted: the fakes did not quote a secret")
	}
	if !slices.Contains(Secrets(l, adminCreds), "ADMIN_PASS_77") {
		t.Error("the admin password is not among the secrets")
	}
}
