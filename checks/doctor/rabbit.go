package doctor

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"slices"
	"strings"

	"github.com/stacklab/stacklab/checks"
	"github.com/stacklab/stacklab/installer/openstack"
	"github.com/stacklab/stacklab/internal/cloud"
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

// ErrTransportURL: a transport_url doctor cannot use. Its errors never
// quote the URL, which holds passwords the report's redaction may not know
// (a wrong one is in no secrets file).
var ErrTransportURL = errors.New("unusable transport_url")

// Broker is one RabbitMQ broker of a transport_url and the account a
// service logs in to it with.
type Broker struct {
	User     string
	Password cloud.Secret
	Addr     string // host:port, 5672 when the URL names none
}

// TransportURL is what oslo.messaging's transport_url says.
type TransportURL struct {
	// Brokers in the URL's order, the order oslo.messaging tries them in.
	Brokers []Broker
	// VHost is the virtual host, unescaped; "" is RabbitMQ's default "/".
	VHost string
}

// ParseTransportURL reads oslo.messaging's
// rabbit://user:pass@host:port[,user:pass@host:port…]/vhost, with
// URL-escaped user, password and vhost. Every broker needs a user, a
// password and a host.
func ParseTransportURL(s string) (TransportURL, error) {
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok {
		return TransportURL{}, fmt.Errorf("not scheme://user:password@host: %w", ErrTransportURL)
	}
	// Each broker is parsed alone: net/url would read user:pw@h1,user:pw@h2
	// as one user whose password runs to the last @.
	end := strings.IndexAny(rest, "/?#")
	if end < 0 {
		end = len(rest)
	}
	authority, tail := rest[:end], rest[end:]
	// The scheme is checked against what net/url makes of it, so that only
	// a well-formed one is quoted.
	u, err := url.Parse(scheme + "://" + tail)
	if err != nil || !strings.EqualFold(u.Scheme, scheme) {
		return TransportURL{}, fmt.Errorf("does not parse as a URL: %w", ErrTransportURL)
	}
	if u.Scheme != "rabbit" {
		return TransportURL{}, fmt.Errorf("scheme %q, not rabbit: %w", u.Scheme, ErrTransportURL)
	}
	t := TransportURL{VHost: strings.TrimPrefix(u.Path, "/")}
	for i, h := range strings.Split(authority, ",") {
		b, err := url.Parse("rabbit://" + h)
		if err != nil {
			return TransportURL{}, fmt.Errorf("broker %d does not parse as user:password@host:port: %w", i+1, ErrTransportURL)
		}
		pw, _ := b.User.Password()
		if b.User.Username() == "" || pw == "" {
			return TransportURL{}, fmt.Errorf("broker %d has no user and password: %w", i+1, ErrTransportURL)
		}
		if b.Hostname() == "" {
			return TransportURL{}, fmt.Errorf("broker %d has no host: %w", i+1, ErrTransportURL)
		}
		t.Brokers = append(t.Brokers, Broker{User: b.User.Username(), Password: cloud.Secret(pw),
			Addr: net.JoinHostPort(b.Hostname(), cmp.Or(b.Port(), "5672"))})
	}
	return t, nil
}

// TransportLogin is who a service logs in to RabbitMQ as: the first broker
// of its file's transport_url, the one oslo.messaging tries first.
type TransportLogin struct {
	File string
	Broker
	VHost string
}

// String never shows the password: a wrong one is not in the secrets the
// report's redaction knows.
func (t TransportLogin) String() string {
	return fmt.Sprintf("%s [DEFAULT] transport_url = rabbit://%s:***@%s/%s", t.File, t.User, t.Addr, url.PathEscape(t.VHost))
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
		f, err := readINI(dr.d.Host, rf.Path)
		if err != nil {
			continue // a service the lab does not run
		}
		raw, ok := f.Get("", "transport_url")
		if !ok {
			continue
		}
		t, err := ParseTransportURL(strings.TrimSpace(raw))
		if err != nil {
			return checks.Failf("a service's transport_url does not parse", "stacklab install --yes",
				fmt.Sprintf("%s [DEFAULT] transport_url: %v", rf.Path, err))
		}
		l := TransportLogin{File: rf.Path, Broker: t.Brokers[0], VHost: t.VHost}
		checked = append(checked, l)
		if l.User == dr.cfg.RabbitUser && l.Password == dr.cfg.RabbitPassword && l.Addr == dr.cfg.RabbitAddr {
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
	_, err = AMQPLogin(conn, l.User, l.Password.Reveal())
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
