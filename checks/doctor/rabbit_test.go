package doctor

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/stacklab/stacklab/checks"
	"github.com/stacklab/stacklab/installer/openstack"
)

func TestParseTransportURL(t *testing.T) {
	for _, tc := range []struct {
		in string
		// want is each broker's "user password host:port", then the
		// vhost; "" for an error.
		want string
	}{
		{"rabbit://openstack:s3cret@127.0.0.1:5672/", "openstack s3cret 127.0.0.1:5672 vhost="},
		{"rabbit://openstack:s3cret@10.0.0.2/", "openstack s3cret 10.0.0.2:5672 vhost="},
		{"rabbit://openstack:pw@controller:5672/", "openstack pw controller:5672 vhost="},
		{"rabbit://openstack:pw@10.0.0.11", "openstack pw 10.0.0.11:5672 vhost="},
		{"rabbit://nova:x@[fd00::2]:5672/", "nova x [fd00::2]:5672 vhost="},
		{"rabbit://a:p%40ss@h1:5672,b:q@h2:5672/vh", "a p@ss h1:5672, b q h2:5672 vhost=vh"},
		// Without a path, the last broker's end is the URL's.
		{"rabbit://a:p@h1,b:q@h2", "a p h1:5672, b q h2:5672 vhost="},
		{"rabbit://u:pw@h/%2F", "u pw h:5672 vhost=/"},
		{"kafka://openstack:s3cret@127.0.0.1:9092/", ""},
		{"rabbit://127.0.0.1:5672/", ""},
		{"rabbit://openstack@10.0.0.11/", ""},
		{"rabbit://u:s3cret@h1,h2/", ""},
		{"rabbit://u:s3cret@:5672/", ""},
		{"u:s3cret@h/", ""},
		{"rabbit:s3cret://u:p@h/", ""},
		{"rabbit://u:s3/cret@h/", ""},
		{"rabbit://u:s3%zzcret@h/", ""},
	} {
		tu, err := ParseTransportURL(tc.in)
		var got string
		if err == nil {
			var bs []string
			for _, b := range tu.Brokers {
				bs = append(bs, b.User+" "+b.Password.Reveal()+" "+b.Addr)
			}
			got = strings.Join(bs, ", ") + " vhost=" + tu.VHost
		}
		if got != tc.want {
			t.Errorf("%s: %q (%v), want %q", tc.in, got, err, tc.want)
		}
		if err != nil {
			if !errors.Is(err, ErrTransportURL) {
				t.Errorf("%s: error not ErrTransportURL: %v", tc.in, err)
			}
			if strings.Contains(err.Error(), "s3") || strings.Contains(err.Error(), "cret") {
				t.Errorf("%s: error quotes the password: %v", tc.in, err)
			}
		}
	}
	tu, _ := ParseTransportURL("rabbit://openstack:s3cret@127.0.0.1:5672/")
	l := TransportLogin{File: "/etc/nova/nova.conf", Broker: tu.Brokers[0], VHost: tu.VHost}
	if s := l.String(); strings.Contains(s, "s3cret") || s != "/etc/nova/nova.conf [DEFAULT] transport_url = rabbit://openstack:***@127.0.0.1:5672/" {
		t.Errorf("String() = %q", s)
	}
	l.VHost = "/"
	if s := l.String(); !strings.HasSuffix(s, "@127.0.0.1:5672/%2F") {
		t.Errorf("String() with vhost / = %q", s)
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
