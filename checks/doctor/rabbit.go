package doctor

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"slices"
	"strings"

	"github.com/stacklab/stacklab/checks"
	"github.com/stacklab/stacklab/installer/inifile"
	"github.com/stacklab/stacklab/installer/openstack"
)

// IDRabbitServices is the check that RabbitMQ accepts the credentials the
// services use, not only the ones stacklab keeps.
const IDRabbitServices = "rabbitmq-service-users"

// rabbitFiles are the configurations whose [DEFAULT] transport_url the
// lab's services log in to RabbitMQ with, and the units that read each.
func rabbitFiles() []regionFile {
	return []regionFile{
		{openstack.NovaConf, []string{"nova-api", "nova-api-metadata", "nova-scheduler", "nova-conductor", "nova-novncproxy", "nova-compute"}},
		{openstack.NeutronConf, []string{"neutron-api", "neutron-rpc-server", "neutron-linuxbridge-agent", "neutron-dhcp-agent", "neutron-l3-agent", "neutron-metadata-agent"}},
	}
}

// TransportLogin is who a service logs in to RabbitMQ as.
type TransportLogin struct {
	File, User, Addr string
	Password         string
}

// String never shows the password: a wrong one is not in the secrets the
// report's redaction knows.
func (t TransportLogin) String() string {
	return fmt.Sprintf("%s [DEFAULT] transport_url = rabbit://%s:***@%s/", t.File, t.User, t.Addr)
}

// ParseTransportURL reads oslo.messaging's rabbit://user:pass@host:port/
// (the first host of a list).
func ParseTransportURL(file, raw string) (TransportLogin, error) {
	if i := strings.IndexByte(raw, ','); i >= 0 {
		if at := strings.LastIndexByte(raw, '/'); at > i {
			raw = raw[:i] + raw[at:] // rabbit://a@h1,b@h2/vhost → rabbit://a@h1/vhost
		}
	}
	u, err := url.Parse(raw)
	if err != nil {
		return TransportLogin{}, fmt.Errorf("%s: transport_url: %w", file, err)
	}
	if u.Scheme != "rabbit" || u.User == nil || u.Host == "" {
		return TransportLogin{}, fmt.Errorf("%s: transport_url is not rabbit://user:password@host:port/", file)
	}
	pw, _ := u.User.Password()
	addr := u.Host
	if u.Port() == "" {
		addr = net.JoinHostPort(u.Hostname(), "5672")
	}
	return TransportLogin{File: file, User: u.User.Username(), Password: pw, Addr: addr}, nil
}

// RabbitRefusal is a service login RabbitMQ refused, with the journal
// line of a unit that says so (when found).
type RabbitRefusal struct {
	Login   TransportLogin
	Journal string
}

// RabbitServicesVerdict grades the services' logins: refused ones are
// why their services cannot talk to each other (compute services down,
// agents dead) while the lab's own RabbitMQ login works.
func RabbitServicesVerdict(checked []TransportLogin, refused []RabbitRefusal, restart []string) checks.Result {
	var ev []string
	for _, l := range checked {
		ev = append(ev, l.String())
	}
	if len(refused) == 0 {
		if len(checked) == 0 {
			return checks.Pass("the services log in as the lab user")
		}
		return checks.Pass(fmt.Sprintf("RabbitMQ accepts the services' %d login(s)", len(checked)), ev...)
	}
	var files []string
	for _, r := range refused {
		ev = append(ev, "refused: "+r.Login.String())
		if r.Journal != "" {
			ev = append(ev, "journal: "+r.Journal)
		}
		files = append(files, r.Login.File)
	}
	r := refused[0].Login
	return checks.Failf(fmt.Sprintf("RabbitMQ refuses the user %s of %s's transport_url (ACCESS_REFUSED): its services cannot reach each other",
		r.User, filepath.Base(r.File)),
		"put the lab's RabbitMQ password (rabbit in /etc/stacklab/secrets.yaml) in transport_url of "+strings.Join(files, ", ")+
			" — or stacklab install --yes, which renders both — then systemctl restart "+strings.Join(restart, " "),
		ev...)
}

func (dr *doctor) checkRabbitServices(ctx context.Context) checks.Result {
	if r, ok := dr.notLab(); ok {
		return r
	}
	var checked []TransportLogin
	var refused []RabbitRefusal
	var files []string
	for _, rf := range rabbitFiles() {
		b, err := dr.d.Host.ReadFile(rf.Path)
		if err != nil {
			continue // a service the lab does not run
		}
		raw, ok := inifile.Parse(b).Get("", "transport_url")
		if !ok {
			continue
		}
		l, err := ParseTransportURL(rf.Path, strings.TrimSpace(raw))
		if err != nil {
			return checks.Failf("a service's transport_url does not parse", "stacklab install --yes", err.Error())
		}
		checked = append(checked, l)
		if l.User == dr.cfg.RabbitUser && l.Password == dr.cfg.RabbitPassword.Reveal() && l.Addr == dr.cfg.RabbitAddr {
			continue // the rabbitmq check has just proven this login
		}
		err = dr.amqpLogin(ctx, l)
		switch {
		case errors.Is(err, ErrAMQPAuth):
			refused = append(refused, RabbitRefusal{Login: l, Journal: dr.journalLine(ctx, rf.Units, "ACCESS_REFUSED")})
			files = append(files, rf.Path)
		case err != nil:
			return checks.Warnf("cannot try "+filepath.Base(rf.Path)+"'s RabbitMQ login", "systemctl status rabbitmq-server", l.String(), err.Error())
		}
	}
	var units []string
	for _, rf := range rabbitFiles() {
		if slices.Contains(files, rf.Path) {
			units = append(units, rf.Units...)
		}
	}
	return RabbitServicesVerdict(checked, refused, dr.inLabOrder(units))
}

func (dr *doctor) amqpLogin(ctx context.Context, l TransportLogin) error {
	ctx, cancel := context.WithTimeout(ctx, dr.cfg.probe())
	defer cancel()
	conn, err := dr.d.dial(ctx, l.Addr)
	if err != nil {
		return err
	}
	defer func() { _ = conn.Close() }()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	_, err = AMQPLogin(conn, l.User, l.Password)
	return err
}

// journalLine is the last line mentioning what among the units' journals
// (the first unit with one), or "".
func (dr *doctor) journalLine(ctx context.Context, units []string, what string) string {
	if dr.d.Units == nil {
		return ""
	}
	for _, u := range dr.inLabOrder(units) {
		lines, err := dr.d.Units.JournalTail(ctx, u, JournalScan)
		if err != nil {
			continue
		}
		for _, l := range slices.Backward(lines) {
			if strings.Contains(l, what) {
				return u + ": " + strings.TrimSpace(l)
			}
		}
	}
	return ""
}

// inLabOrder keeps the lab's units among units, in start order.
func (dr *doctor) inLabOrder(units []string) []string {
	var out []string
	for _, u := range dr.cfg.Units {
		if slices.Contains(units, u) {
			out = append(out, u)
		}
	}
	return out
}
