package doctor

import (
	"slices"
	"strings"
	"testing"

	"github.com/stacklab/stacklab/checks"
	"github.com/stacklab/stacklab/installer/openstack"
)

func TestParseTransportURL(t *testing.T) {
	for in, want := range map[string]string{
		"rabbit://openstack:s3cret@127.0.0.1:5672/": "openstack s3cret 127.0.0.1:5672",
		"rabbit://openstack:s3cret@10.0.0.2/":       "openstack s3cret 10.0.0.2:5672",
		"rabbit://a:p%40ss@h1:5672,b:q@h2:5672/vh":  "a p@ss h1:5672",
		"rabbit://nova:x@[fd00::2]:5672/":           "nova x [fd00::2]:5672",
		"kafka://openstack:s3cret@127.0.0.1:9092/":  "error",
		"rabbit://127.0.0.1:5672/":                  "error",
	} {
		l, err := ParseTransportURL("/etc/nova/nova.conf", in)
		got := l.User + " " + l.Password + " " + l.Addr
		if err != nil {
			got = "error"
		}
		if got != want {
			t.Errorf("%s: %q (%v), want %q", in, got, err, want)
		}
	}
	l, _ := ParseTransportURL("/etc/nova/nova.conf", "rabbit://openstack:s3cret@127.0.0.1:5672/")
	if s := l.String(); strings.Contains(s, "s3cret") || s != "/etc/nova/nova.conf [DEFAULT] transport_url = rabbit://openstack:***@127.0.0.1:5672/" {
		t.Errorf("String() = %q", s)
	}
}

// nova.conf's password is not RabbitMQ's: that is the root cause, the
// password never shows, and compute and agents are skipped behind it.
func TestRabbitServicesRootCause(t *testing.T) {
	w := newWorld(t)
	w.cfg.Units = append(w.cfg.Units, "nova-conductor", "nova-compute", "neutron-rpc-server")
	w.deps.Units = journalUnits{fakeUnits: fakeUnits{states: map[string]string{}}, journal: map[string][]string{
		"nova-conductor": {"ERROR oslo.messaging._drivers.impl_rabbit Connection failed: (0, 0): (403) ACCESS_REFUSED - Login was refused using authentication mechanism AMQPLAIN."},
	}}
	h := w.deps.Host.(fakeHost)
	h.files[openstack.NovaConf] = "[DEFAULT]\ntransport_url = rabbit://openstack:0ldPassw0rd@" + w.cfg.RabbitAddr + "/\n"
	h.files[openstack.NeutronConf] = "[DEFAULT]\ntransport_url = rabbit://openstack:rpw@" + w.cfg.RabbitAddr + "/\n"
	rep := w.run(t)
	if roots := rep.RootCauses(); len(roots) != 1 || roots[0] != IDRabbitServices {
		t.Fatalf("roots %v", roots)
	}
	e, _ := rep.Get(IDRabbitServices)
	all := e.Summary + e.Fix + strings.Join(e.Evidence, "\n")
	if strings.Contains(all, "0ldPassw0rd") {
		t.Errorf("the service's password leaked: %q", all)
	}
	if !strings.Contains(e.Summary, "RabbitMQ refuses the user openstack of nova.conf's transport_url (ACCESS_REFUSED)") ||
		!strings.Contains(e.Fix, "systemctl restart nova-conductor nova-compute") ||
		!slices.ContainsFunc(e.Evidence, func(s string) bool { return strings.HasPrefix(s, "journal: nova-conductor: ERROR") }) {
		t.Errorf("%+v", e)
	}
	for _, c := range Checks(w.cfg, w.deps) {
		want := slices.Contains([]string{IDNova, IDNeutron, IDComputeServices, IDNetworkAgents}, c.ID)
		if got := slices.Contains(c.DependsOn, IDRabbitServices); got != want {
			t.Errorf("%s depends on %s: %v, want %v", c.ID, IDRabbitServices, got, want)
		}
	}
	// Both right: green.
	h.files[openstack.NovaConf] = h.files[openstack.NeutronConf]
	if s, _ := status(w.run(t), IDRabbitServices); s != checks.OK {
		t.Errorf("right passwords: %s", s)
	}
}
