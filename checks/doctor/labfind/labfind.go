// Package labfind discovers a single-node OpenStack lab that stacklab did
// not build — one installed by hand from a guide — from what Debian's
// packages leave on the host: the services' configuration files, the
// installed systemd units and the enabled Apache sites.
//
// Every read goes through a root prefix so the discovery is tested against
// a directory tree that mimics a hand-made lab. Each file is read at most
// once per Discover call. What cannot be found is reported in Lab.Missing,
// never guessed: doctor turns it into a skip with a reason.
package labfind

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/stacklab/stacklab/checks/doctor"
)

// Files doctor reads to discover a lab; exported so the support bundle can
// carry them (redacted).
const (
	KeystoneConf  = "/etc/keystone/keystone.conf"
	GlanceConf    = "/etc/glance/glance-api.conf"
	PlacementConf = "/etc/placement/placement.conf"
	NovaConf      = "/etc/nova/nova.conf"
	NeutronConf   = "/etc/neutron/neutron.conf"
	ML2Conf       = "/etc/neutron/plugins/ml2/ml2_conf.ini"
	LinuxbridgeIn = "/etc/neutron/plugins/ml2/linuxbridge_agent.ini"
	OVSAgentIni   = "/etc/neutron/plugins/ml2/openvswitch_agent.ini"
	HorizonConf   = "/etc/openstack-dashboard/local_settings.py"
	HostsFile     = "/etc/hosts"
	ApacheSites   = "/etc/apache2/sites-enabled"
)

// Files are the configuration files discovery reads; doctor's support
// bundle carries the ones that exist, with every secret found in them
// redacted.
var Files = []string{KeystoneConf, GlanceConf, PlacementConf, NovaConf, NeutronConf, ML2Conf,
	LinuxbridgeIn, OVSAgentIni, HorizonConf, "/etc/nova/nova-compute.conf",
	"/etc/neutron/metadata_agent.ini", "/etc/neutron/dhcp_agent.ini", "/etc/neutron/l3_agent.ini"}

// KnownUnits are the lab units doctor knows, in start (dependency) order.
// Debian splits neutron's server into neutron-api + neutron-rpc-server;
// other installs (and older guides) have neutron-server.
var KnownUnits = []string{
	"mariadb", "rabbitmq-server", "memcached",
	"keystone", "glance-api", "placement-api",
	"nova-api", "nova-api-metadata", "nova-scheduler", "nova-conductor", "nova-novncproxy",
	"libvirtd", "nova-compute",
	"neutron-server", "neutron-api", "neutron-rpc-server",
	"neutron-linuxbridge-agent", "neutron-openvswitch-agent",
	"neutron-dhcp-agent", "neutron-l3-agent", "neutron-metadata-agent",
	"apache2",
}

// unitDirs are where Debian's packages and an administrator put units.
var unitDirs = []string{"/etc/systemd/system", "/lib/systemd/system", "/usr/lib/systemd/system"}

// Lab is what discovery found. Sources say where each value came from so
// doctor's evidence can show it; Missing says what was not found and why.
type Lab struct {
	KeystoneURL    string // …/v3
	MgmtIP         string
	MgmtNames      []string // names /etc/hosts gives MgmtIP (the guide's "controller")
	HorizonWebRoot string   // e.g. /horizon
	Units          []string
	Rabbit         *doctor.Broker // the services' RabbitMQ account; nil: no usable transport_url
	DatabaseHost   string         // from nova's [database] connection (no credentials kept)
	Mechanism      string         // ML2 mechanism drivers, as configured
	Region         string
	VirtType       string
	ConsoleURL     string   // nova's [vnc] novncproxy_base_url
	Sites          []string // enabled Apache sites
	Files          []string // the configuration files found
	Sources        []string
	Missing        []string
	// Secrets are the passwords found, so reports can be redacted.
	Secrets []string
}

// ErrNoLab: nothing on this host looks like an OpenStack lab.
var ErrNoLab = errors.New("no OpenStack configuration found")

// reader reads each file under root at most once.
type reader struct {
	root  string
	files map[string][]byte
}

func (r *reader) read(p string) ([]byte, bool) {
	if b, ok := r.files[p]; ok {
		return b, b != nil
	}
	b, err := os.ReadFile(filepath.Join(r.root, p))
	if err != nil {
		b = nil
	}
	r.files[p] = b
	return b, b != nil
}

// region is the region most of the services' configuration names
// ([cinder] aside: nova reads it only for volumes); on a tie, the one nova's
// [placement] names (the guide sets it; Debian ships regionOne elsewhere),
// else the first met. One file with a region of its own is the
// service-region fault doctor must name, not the lab's region: taking the
// region from one fixed option made doctor call the others wrong.
func (r *reader) region() string {
	count := map[string]int{}
	var order []string
	for _, f := range []string{NovaConf, GlanceConf, PlacementConf, NeutronConf} {
		b, ok := r.read(f)
		if !ok {
			continue
		}
		for _, s := range doctor.RegionSettings(f, b) {
			if s.Section == "cinder" {
				continue
			}
			if count[s.Value] == 0 {
				order = append(order, s.Value)
			}
			count[s.Value] += 2
			if f == NovaConf && s.Section == "placement" {
				count[s.Value]++ // the tie-break
			}
		}
	}
	best := ""
	for _, v := range order {
		if count[v] > count[best] {
			best = v
		}
	}
	return best
}

func (r *reader) ini(p string) (INI, bool) {
	b, ok := r.read(p)
	if !ok {
		return INI{}, false
	}
	return ParseINI(b), true
}

// Discover reads the lab under root ("/" on the host).
func Discover(root string) (Lab, error) {
	r := &reader{root: root, files: map[string][]byte{}}
	var l Lab
	l.Units = installedUnits(root)
	for _, f := range Files {
		if b, ok := r.read(f); ok {
			l.Files = append(l.Files, f)
			l.Secrets = append(l.Secrets, SecretsIn(b)...)
		}
	}
	nova, haveNova := r.ini(NovaConf)
	_, haveKeystone := r.read(KeystoneConf)
	horizon, haveHorizon := r.read(HorizonConf)
	if !haveNova && !haveKeystone && !haveHorizon && len(l.Units) == 0 {
		return l, fmt.Errorf("discover under %s: none of %s, %s, %s nor a known unit: %w", root, NovaConf, KeystoneConf, HorizonConf, ErrNoLab)
	}
	l.keystoneURL(r, horizon)
	l.mgmt(r, nova, horizon)
	l.horizon(horizon, haveHorizon)
	if haveNova {
		l.fromNova(nova)
	} else {
		l.Missing = append(l.Missing, "no "+NovaConf+": RabbitMQ's account and nova's virt_type are unknown")
	}
	l.neutron(r)
	l.Region = r.region()
	l.Sites = enabledSites(root)
	return l, nil
}

func installedUnits(root string) []string {
	var out []string
	for _, u := range KnownUnits {
		for _, d := range unitDirs {
			if _, err := os.Stat(filepath.Join(root, d, u+".service")); err == nil {
				out = append(out, u)
				break
			}
		}
	}
	return out
}

var (
	pyStringRE = func(name string) *regexp.Regexp {
		return regexp.MustCompile(`(?m)^` + name + `\s*=\s*['"]([^'"]*)['"](\s*%\s*OPENSTACK_HOST)?`)
	}
	openstackHostRE = pyStringRE("OPENSTACK_HOST")
	keystoneURLRE   = pyStringRE("OPENSTACK_KEYSTONE_URL")
	webrootRE       = pyStringRE("WEBROOT")
)

func pySetting(re *regexp.Regexp, b []byte, host string) (string, bool) {
	m := re.FindSubmatch(b)
	if m == nil {
		return "", false
	}
	v := string(m[1])
	if len(m[2]) > 0 {
		if host == "" {
			return "", false
		}
		v = strings.Replace(v, "%s", host, 1)
	}
	return v, true
}

// keystoneURL takes the URL Horizon sends logins to, else the one the
// services validate tokens against.
func (l *Lab) keystoneURL(r *reader, horizon []byte) {
	host, _ := pySetting(openstackHostRE, horizon, "")
	if u, ok := pySetting(keystoneURLRE, horizon, host); ok {
		l.KeystoneURL, l.Sources = u, append(l.Sources, "keystone URL "+u+" from OPENSTACK_KEYSTONE_URL in "+HorizonConf)
		return
	}
	for _, f := range []string{NovaConf, GlanceConf, PlacementConf, NeutronConf} {
		c, ok := r.ini(f)
		if !ok {
			continue
		}
		for _, k := range []string{"www_authenticate_uri", "auth_uri", "auth_url"} {
			if v := c.Get("keystone_authtoken", k); v != "" {
				u := strings.TrimSuffix(v, "/")
				if !strings.HasSuffix(u, "/v3") {
					u += "/v3"
				}
				l.KeystoneURL, l.Sources = u, append(l.Sources, "keystone URL "+u+" from ["+"keystone_authtoken] "+k+" in "+f)
				return
			}
		}
	}
	l.Missing = append(l.Missing, "no keystone URL: neither OPENSTACK_KEYSTONE_URL in "+HorizonConf+" nor [keystone_authtoken] in the services' configuration")
}

// mgmt takes the address keystone's URL names, else nova's my_ip, else
// Horizon's OPENSTACK_HOST; a name (the guides' "controller") is resolved
// through /etc/hosts only, never DNS.
func (l *Lab) mgmt(r *reader, nova INI, horizon []byte) {
	type cand struct{ v, src string }
	var cands []cand
	if u, err := url.Parse(l.KeystoneURL); err == nil && u.Hostname() != "" {
		cands = append(cands, cand{u.Hostname(), "keystone's URL"})
	}
	if v := nova.Get("DEFAULT", "my_ip"); v != "" {
		cands = append(cands, cand{v, "[DEFAULT] my_ip in " + NovaConf})
	}
	if v, ok := pySetting(openstackHostRE, horizon, ""); ok {
		cands = append(cands, cand{v, "OPENSTACK_HOST in " + HorizonConf})
	}
	hosts, _ := r.read(HostsFile)
	for _, c := range cands {
		ip := net.ParseIP(c.v)
		src := c.src
		if ip == nil {
			ip = lookupHosts(hosts, c.v)
			src += ", " + c.v + " resolved by " + HostsFile
		}
		if ip != nil && !ip.IsLoopback() && !ip.IsUnspecified() {
			l.MgmtIP = ip.String()
			l.MgmtNames = namesOf(hosts, ip)
			l.Sources = append(l.Sources, "management address "+l.MgmtIP+" from "+src)
			return
		}
	}
	l.Missing = append(l.Missing, "no management address in the configuration (keystone URL, nova my_ip, OPENSTACK_HOST)")
}

func lookupHosts(hosts []byte, name string) net.IP {
	sc := bufio.NewScanner(bytes.NewReader(hosts))
	for sc.Scan() {
		line, _, _ := strings.Cut(sc.Text(), "#")
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		for _, n := range f[1:] {
			if strings.EqualFold(n, name) {
				return net.ParseIP(f[0])
			}
		}
	}
	return nil
}

// namesOf lists the names /etc/hosts gives ip.
func namesOf(hosts []byte, ip net.IP) []string {
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(hosts))
	for sc.Scan() {
		line, _, _ := strings.Cut(sc.Text(), "#")
		f := strings.Fields(line)
		if len(f) >= 2 && ip.Equal(net.ParseIP(f[0])) {
			out = append(out, f[1:]...)
		}
	}
	return out
}

func (l *Lab) horizon(b []byte, have bool) {
	if !have {
		l.Missing = append(l.Missing, "no "+HorizonConf+": the dashboard's address is assumed to be /horizon")
	}
	l.HorizonWebRoot = "/horizon"
	if v, ok := pySetting(webrootRE, b, ""); ok && strings.HasPrefix(v, "/") {
		if w := strings.TrimSuffix(v, "/"); w != "" {
			l.HorizonWebRoot = w
		}
		l.Sources = append(l.Sources, "dashboard at "+l.HorizonWebRoot+" from WEBROOT in "+HorizonConf)
	}
}

func (l *Lab) fromNova(nova INI) {
	l.VirtType = nova.Get("libvirt", "virt_type")
	l.ConsoleURL = nova.Get("vnc", "novncproxy_base_url")
	if c := nova.Get("database", "connection"); c != "" {
		if u, err := url.Parse(c); err == nil {
			l.DatabaseHost = u.Host
		}
	}
	t := nova.Get("DEFAULT", "transport_url")
	if t == "" {
		l.Missing = append(l.Missing, "no [DEFAULT] transport_url in "+NovaConf+": RabbitMQ's password is unknown")
		return
	}
	tu, err := doctor.ParseTransportURL(t)
	if err == nil && len(tu.Brokers) > 1 {
		// doctor checks the one RabbitMQ of an all-in-one lab; which
		// broker of a cluster it should log in to is a guess.
		err = fmt.Errorf("%d brokers: %w", len(tu.Brokers), doctor.ErrTransportURL)
	}
	if err != nil {
		l.Missing = append(l.Missing, "[DEFAULT] transport_url in "+NovaConf+": "+err.Error())
		return
	}
	rb := tu.Brokers[0]
	l.Rabbit = &rb
	l.Sources = append(l.Sources, "RabbitMQ account "+rb.User+"@"+rb.Addr+" from [DEFAULT] transport_url in "+NovaConf)
}

func (l *Lab) neutron(r *reader) {
	ml2, ok := r.ini(ML2Conf)
	if !ok {
		l.Missing = append(l.Missing, "no "+ML2Conf+": neutron's mechanism driver is unknown")
		return
	}
	l.Mechanism = ml2.Get("ml2", "mechanism_drivers")
	if l.Mechanism != "" {
		l.Sources = append(l.Sources, "ML2 mechanism drivers "+l.Mechanism+" from "+ML2Conf)
	}
	_, lb := r.read(LinuxbridgeIn)
	_, ovs := r.read(OVSAgentIni)
	if strings.Contains(l.Mechanism, "linuxbridge") && !lb {
		l.Missing = append(l.Missing, "ML2 uses linuxbridge but there is no "+LinuxbridgeIn)
	}
	if strings.Contains(l.Mechanism, "openvswitch") && !ovs {
		l.Missing = append(l.Missing, "ML2 uses openvswitch but there is no "+OVSAgentIni)
	}
}

func enabledSites(root string) []string {
	ents, err := os.ReadDir(filepath.Join(root, ApacheSites))
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), ".conf") {
			out = append(out, strings.TrimSuffix(e.Name(), ".conf"))
		}
	}
	return out
}

// secretKeyRE matches the options that hold secrets in OpenStack's files:
// password, *_password, memcache_secret_key, metadata_proxy_shared_secret.
var secretKeyRE = regexp.MustCompile(`(?i)(password|secret)`)

// SecretsIn returns every secret value in an ini or settings file: the
// values of password/secret options and the passwords inside URLs
// (database connection, transport_url, with several brokers too), so a
// report or bundle can redact them by value.
func SecretsIn(b []byte) []string {
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		k, v = strings.TrimSpace(k), strings.Trim(strings.TrimSpace(v), `'"`)
		if v != "" && secretKeyRE.MatchString(k) {
			out = append(out, v)
		}
		if i := strings.Index(v, "://"); i >= 0 {
			authority, _, _ := strings.Cut(v[i+3:], "/")
			for _, h := range strings.Split(authority, ",") {
				if u, err := url.Parse("x://" + h); err == nil {
					if pw, ok := u.User.Password(); ok && pw != "" {
						out = append(out, pw)
					}
				}
			}
		}
	}
	return out
}
