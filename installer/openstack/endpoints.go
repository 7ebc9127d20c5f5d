package openstack

import (
	"net"
	"strconv"
)

// ServiceProject is the project the service users live in.
const ServiceProject = "service"

// AdminRole is the role bootstrap creates and service users are granted on
// ServiceProject.
const AdminRole = "admin"

// API is one of the lab's HTTP APIs: what keystone's catalog registers,
// what preflight wants free and what doctor probes all come from this one
// table, so a port or a path changes in one place.
type API struct {
	// Name and Type are the catalog's service name and type.
	Name, Type  string
	Description string
	// Unit is the systemd unit that listens on Port.
	Unit string
	Port int
	// Path follows host:port in the catalog's URL ("/v2.1" for nova).
	Path string
}

// KeystonePort is where keystone (and so every login) answers.
const KeystonePort = 5000

// APIs are the lab's APIs in catalog order, keystone first; the ports are
// Debian's defaults.
func APIs() []API {
	return []API{
		{Name: "keystone", Type: "identity", Unit: "keystone", Port: KeystonePort, Path: "/v3/"},
		{Name: "glance", Type: "image", Description: "OpenStack Image", Unit: "glance-api", Port: 9292},
		{Name: "placement", Type: "placement", Description: "Placement API", Unit: "placement-api", Port: 8778},
		{Name: "nova", Type: "compute", Description: "OpenStack Compute", Unit: "nova-api", Port: 8774, Path: "/v2.1"},
		{Name: "neutron", Type: "network", Description: "OpenStack Networking", Unit: "neutron-api", Port: 9696},
	}
}

// URL is the API's endpoint on host, as registered in the catalog.
func (a API) URL(host string) string {
	return "http://" + net.JoinHostPort(host, strconv.Itoa(a.Port)) + a.Path
}

// keystoneBase is keystone's unversioned root, as keystonemiddleware's
// www_authenticate_uri and auth_url take it.
func keystoneBase(host string) string {
	return "http://" + net.JoinHostPort(host, strconv.Itoa(KeystonePort))
}

// KeystoneURL is the identity v3 URL on host, as clients (clouds.yaml,
// Horizon's OPENSTACK_KEYSTONE_URL, keystoneauth's auth_url) take it.
func KeystoneURL(host string) string { return keystoneBase(host) + "/v3" }

// KeystoneEndpoint is the identity endpoint keystone-manage bootstrap
// registers; the catalog must hold exactly this string, trailing slash
// included, so that converging the catalog later finds nothing to change.
func KeystoneEndpoint(host string) string { return APIs()[0].URL(host) }

// DashboardURL is Horizon's root on host under webRoot ("/horizon").
func DashboardURL(host, webRoot string) string {
	h := host
	if ip := net.ParseIP(host); ip != nil && ip.To4() == nil {
		h = "[" + host + "]"
	}
	return "http://" + h + webRoot
}
