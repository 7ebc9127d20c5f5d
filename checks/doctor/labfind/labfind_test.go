package labfind

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// Realistic snippets of what Debian 12's packages ship, edited as the
// OpenStack install guide tells a student to edit them.
const (
	novaConf = `[DEFAULT]
# The guide's controller address
my_ip = 10.0.0.11
transport_url = rabbit://openstack:RABBIT_PASS_x9@controller:5672/
log_dir = /var/log/nova
state_path = /var/lib/nova

[api_database]
connection = mysql+pymysql://nova:NOVA_DBPASS@controller/nova_api

[database]
connection = mysql+pymysql://nova:NOVA_DBPASS@controller/nova

[keystone_authtoken]
www_authenticate_uri = http://controller:5000/
auth_url = http://controller:5000/
memcached_servers = controller:11211
auth_type = password
project_domain_name = Default
user_domain_name = Default
project_name = service
username = nova
password = NOVA_PASS
region_name = regionOne

[libvirt]
virt_type = qemu

[vnc]
novncproxy_base_url = http://controller:6080/vnc_auto.html

[placement]
region_name = RegionOne
auth_url = http://controller:5000/v3
`
	hosts = `127.0.0.1	localhost
127.0.1.1	lab.example	lab
# controller
10.0.0.11	controller

::1     localhost ip6-localhost ip6-loopback
`
	localSettings = `# -*- coding: utf-8 -*-
import os
from django.utils.translation import gettext_lazy as _
DEBUG = False
WEBROOT = '/horizon/'
ALLOWED_HOSTS = ['*']
OPENSTACK_HOST = "controller"
OPENSTACK_KEYSTONE_URL = "http://%s:5000/v3" % OPENSTACK_HOST
OPENSTACK_KEYSTONE_DEFAULT_ROLE = "member"
`
	ml2Conf = `[ml2]
type_drivers = flat,vlan,vxlan
tenant_network_types = vxlan
mechanism_drivers = linuxbridge,l2population
extension_drivers = port_security
`
	lbAgent = `[linux_bridge]
physical_interface_mappings = provider:eth1
[vxlan]
enable_vxlan = true
local_ip = 10.0.0.11
`
	glanceConf = `[DEFAULT]
[database]
connection = mysql+pymysql://glance:GLANCE_DBPASS@controller/glance
[keystone_authtoken]
www_authenticate_uri  = http://controller:5000
auth_url = http://controller:5000
`
)

func write(t *testing.T, root string, files map[string]string) {
	t.Helper()
	for p, body := range files {
		full := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func units(names ...string) map[string]string {
	m := map[string]string{}
	for _, n := range names {
		m["/lib/systemd/system/"+n+".service"] = "[Unit]\nDescription=" + n + "\n"
	}
	return m
}

func merge(ms ...map[string]string) map[string]string {
	out := map[string]string{}
	for _, m := range ms {
		for k, v := range m {
			out[k] = v
		}
	}
	return out
}

func TestDiscoverGuideLab(t *testing.T) {
	root := t.TempDir()
	write(t, root, merge(map[string]string{
		NovaConf: novaConf, HostsFile: hosts, HorizonConf: localSettings,
		ML2Conf: ml2Conf, LinuxbridgeIn: lbAgent, GlanceConf: glanceConf,
		KeystoneConf: "[database]\nconnection = mysql+pymysql://keystone:KEYSTONE_DBPASS@controller/keystone\n[token]\nprovider = fernet\n",
		ApacheSites + "/openstack-dashboard.conf":    "WSGIScriptAlias /horizon /usr/share/openstack-dashboard/wsgi.py\n",
		ApacheSites + "/000-default.conf":            "<VirtualHost *:80>\n</VirtualHost>\n",
		"/etc/systemd/system/neutron-server.service": "[Unit]\n", // an administrator's own unit
	}, units("mariadb", "rabbitmq-server", "memcached", "keystone", "glance-api", "placement-api",
		"nova-api", "nova-scheduler", "nova-conductor", "nova-novncproxy", "nova-compute", "libvirtd",
		"neutron-linuxbridge-agent", "neutron-dhcp-agent", "neutron-l3-agent", "neutron-metadata-agent", "apache2",
		"ssh", "cron")))

	l, err := Discover(root)
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct{ name, got, want string }{
		{"keystone URL (OPENSTACK_KEYSTONE_URL with %s)", l.KeystoneURL, "http://controller:5000/v3"},
		{"management address (controller via /etc/hosts)", l.MgmtIP, "10.0.0.11"},
		{"webroot", l.HorizonWebRoot, "/horizon"},
		{"virt_type", l.VirtType, "qemu"},
		{"console URL", l.ConsoleURL, "http://controller:6080/vnc_auto.html"},
		{"database host", l.DatabaseHost, "controller"},
		{"mechanism", l.Mechanism, "linuxbridge,l2population"},
		{"region (nova [placement])", l.Region, "RegionOne"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s: got %q, want %q", c.name, c.got, c.want)
		}
	}
	if !slices.Equal(l.MgmtNames, []string{"controller"}) {
		t.Errorf("names of the management address: %q", l.MgmtNames)
	}
	if l.Rabbit == nil || l.Rabbit.User != "openstack" || l.Rabbit.Addr != "controller:5672" || l.Rabbit.Password.Reveal() != "RABBIT_PASS_x9" {
		t.Errorf("rabbit from transport_url: %+v", l.Rabbit)
	}
	wantUnits := []string{"mariadb", "rabbitmq-server", "memcached", "keystone", "glance-api", "placement-api",
		"nova-api", "nova-scheduler", "nova-conductor", "nova-novncproxy", "libvirtd", "nova-compute",
		"neutron-server", "neutron-linuxbridge-agent", "neutron-dhcp-agent", "neutron-l3-agent", "neutron-metadata-agent", "apache2"}
	if !slices.Equal(l.Units, wantUnits) {
		t.Errorf("units (known ones, start order, ssh/cron ignored):\n got %v\nwant %v", l.Units, wantUnits)
	}
	if !slices.Equal(l.Sites, []string{"000-default", "openstack-dashboard"}) {
		t.Errorf("sites: %v", l.Sites)
	}
	if len(l.Missing) != 0 {
		t.Errorf("nothing should be missing: %q", l.Missing)
	}
	for _, pw := range []string{"RABBIT_PASS_x9", "NOVA_DBPASS", "NOVA_PASS", "GLANCE_DBPASS", "KEYSTONE_DBPASS"} {
		if !slices.Contains(l.Secrets, pw) {
			t.Errorf("secret %s not collected for redaction", pw)
		}
	}
	// Nothing a report shows may carry a password.
	shown := fmt.Sprintf("%v %v %+v", l.Sources, l.Missing, *l.Rabbit)
	for _, pw := range l.Secrets {
		if strings.Contains(shown, pw) {
			t.Errorf("password %q in sources/missing/rabbit: %s", pw, shown)
		}
	}
}

// Fall-backs: no Horizon settings, keystone URL from a service's
// [keystone_authtoken], an address written as an IP, Debian's split
// neutron units and the openvswitch agent.
func TestDiscoverFallbacks(t *testing.T) {
	root := t.TempDir()
	write(t, root, merge(map[string]string{
		GlanceConf:  "[keystone_authtoken]\nwww_authenticate_uri = http://192.0.2.20:5000\nregion_name = RegionTwo\n",
		NovaConf:    "[DEFAULT]\nmy_ip = 192.0.2.20\n",
		ML2Conf:     "[ml2]\nmechanism_drivers = openvswitch\n",
		OVSAgentIni: "[ovs]\nbridge_mappings = physnet1:br-ex\n",
	}, units("keystone", "neutron-api", "neutron-rpc-server", "neutron-openvswitch-agent")))
	l, err := Discover(root)
	if err != nil {
		t.Fatal(err)
	}
	if l.KeystoneURL != "http://192.0.2.20:5000/v3" || l.MgmtIP != "192.0.2.20" || l.Region != "RegionTwo" || l.HorizonWebRoot != "/horizon" {
		t.Errorf("got %+v", l)
	}
	if !slices.Equal(l.Units, []string{"keystone", "neutron-api", "neutron-rpc-server", "neutron-openvswitch-agent"}) {
		t.Errorf("units %v", l.Units)
	}
	if l.Rabbit != nil {
		t.Errorf("no transport_url, yet rabbit %+v", l.Rabbit)
	}
	joined := strings.Join(l.Missing, "\n")
	for _, want := range []string{"transport_url", HorizonConf} {
		if !strings.Contains(joined, want) {
			t.Errorf("missing should name %s: %s", want, joined)
		}
	}
}

// Unknown layouts give a clear "not found", never a wrong value.
func TestDiscoverUnknownLayouts(t *testing.T) {
	t.Run("empty host", func(t *testing.T) {
		_, err := Discover(t.TempDir())
		if !errors.Is(err, ErrNoLab) {
			t.Fatalf("want ErrNoLab, got %v", err)
		}
	})
	t.Run("loopback-only and unresolvable names", func(t *testing.T) {
		root := t.TempDir()
		write(t, root, map[string]string{
			NovaConf:    "[DEFAULT]\nmy_ip = 127.0.0.1\ntransport_url = rabbit://a:b@h1:5672,a:b@h2:5672/\n",
			HorizonConf: "OPENSTACK_HOST = \"nowhere\"\n",
			HostsFile:   hosts,
		})
		l, err := Discover(root)
		if err != nil {
			t.Fatal(err)
		}
		if l.MgmtIP != "" || l.Rabbit != nil || l.KeystoneURL != "" {
			t.Errorf("guessed: %+v", l)
		}
		joined := strings.Join(l.Missing, "\n")
		for _, want := range []string{"management address", "keystone URL", "transport_url", ML2Conf} {
			if !strings.Contains(joined, want) {
				t.Errorf("missing should mention %q: %s", want, joined)
			}
		}
		if !slices.Contains(l.Secrets, "b") {
			t.Errorf("several brokers' password not collected: %q", l.Secrets)
		}
		if strings.Contains(joined, ":b@") {
			t.Errorf("transport_url's password in missing: %s", joined)
		}
	})
}

func TestParseINI(t *testing.T) {
	c := ParseINI([]byte("# c\n[DEFAULT]\nkey = top\n[a]\n# c\nx = 1\nx = 2\n[b]\nx=3\n"))
	if c.Get("DEFAULT", "key") != "top" || c.Get("a", "x") != "2" || c.Get("b", "x") != "3" || c.Get("c", "x") != "" || (INI{}).Get("a", "x") != "" {
		t.Errorf("got %v", c)
	}
}

// The lab's region is what most of its services name: the one file that
// says otherwise is the fault (the e2e's region-case on a hand-made lab),
// and [cinder] counts for nothing.
func TestDiscoverRegionByMajority(t *testing.T) {
	authtoken := "[keystone_authtoken]\nwww_authenticate_uri = http://192.0.2.20:5000\nregion_name = RegionOne\n"
	root := t.TempDir()
	write(t, root, merge(map[string]string{
		NovaConf:      authtoken + "[placement]\nregion_name = regionOne\n[cinder]\nos_region_name = regionOne\n[neutron]\nregion_name = RegionOne\n",
		GlanceConf:    authtoken,
		PlacementConf: authtoken,
		NeutronConf:   authtoken + "[nova]\nregion_name = RegionOne\n",
	}, units("keystone")))
	l, err := Discover(root)
	if err != nil {
		t.Fatal(err)
	}
	if l.Region != "RegionOne" {
		t.Errorf("region %q, want the services' RegionOne", l.Region)
	}
}
