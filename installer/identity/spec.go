// Package identity converges keystone's projects, users, roles and service
// catalog to a Spec through the identity v3 API, and checks the catalog's
// endpoints against the management address for stacklab doctor.
package identity

import (
	"errors"
	"fmt"
	"net"
	"strings"

	"github.com/stacklab/stacklab/internal/cloud"
)

// Spec is what keystone should hold beyond what keystone-manage bootstrap
// made. Converge only adds and corrects: it never removes a project, user,
// role, assignment or service it does not know about.
type Spec struct {
	// DomainID is where projects and users live ("default" on a
	// bootstrapped keystone; its name is "Default").
	DomainID string
	// Region is the region every endpoint is registered in. Case matters:
	// services look endpoints up by exact name (RegionOne ≠ regionOne).
	Region      string
	Projects    []Project
	Roles       []string // global roles that must exist
	Users       []User
	Assignments []Assignment
	Services    []Service
}

// Project is a project in Spec.DomainID.
type Project struct {
	Name        string
	Description string // only set at creation
}

// User is a user in Spec.DomainID that must be enabled and able to
// authenticate with Password.
type User struct {
	Name     string
	Password cloud.Secret
}

// Assignment grants Role on Project to User (all by name; User and Project
// in Spec.DomainID, Role global).
type Assignment struct{ User, Project, Role string }

// Service is a catalog entry, matched by Type and Name.
type Service struct {
	Name, Type string
	// Description is kept equal when set; empty leaves it alone (keystone's
	// bootstrap creates the identity service without one).
	Description string
	Endpoints   Endpoints
}

// Endpoints are the service's URLs per interface; an empty one is not managed.
type Endpoints struct{ Public, Internal, Admin string }

func (e Endpoints) byInterface() []struct{ iface, url string } {
	var out []struct{ iface, url string }
	for _, x := range []struct{ iface, url string }{{"public", e.Public}, {"internal", e.Internal}, {"admin", e.Admin}} {
		if x.url != "" {
			out = append(out, x)
		}
	}
	return out
}

// Names LabSpec uses.
const (
	ServiceProject = "service"
	MemberRole     = "member" // Horizon's OPENSTACK_KEYSTONE_DEFAULT_ROLE
	AdminRole      = "admin"
)

// LabUsers are the service users LabSpec needs passwords for, in the order
// the install guide creates them.
func LabUsers() []string { return []string{"glance", "placement", "nova", "neutron"} }

// LabParams feeds LabSpec.
type LabParams struct {
	MgmtIP string // management address every endpoint points at
	Region string // e.g. RegionOne
	// Passwords of the service users glance, placement, nova and neutron
	// (the same ones written into each service's [keystone_authtoken]).
	Passwords map[string]cloud.Secret
}

// Port numbers of the lab's APIs (Debian's defaults).
const (
	KeystonePort  = "5000"
	GlancePort    = "9292"
	PlacementPort = "8778"
	NovaPort      = "8774"
	NeutronPort   = "9696"
)

// KeystoneURL is the identity endpoint URL for host, in the form the
// installer must also pass to keystone-manage bootstrap so that a later
// Converge finds nothing to change.
func KeystoneURL(host string) string {
	return "http://" + net.JoinHostPort(host, KeystonePort) + "/v3/"
}

// LabSpec is the all-in-one lab's identity state: project "service", the
// service users holding admin on it, role "member", and the catalog for
// keystone, glance, placement, nova and neutron with all three interfaces at
// the management address. Converge(LabSpec(new address)) is also how doctor
// re-points the catalog after the address changed.
func LabSpec(p LabParams) (Spec, error) {
	var missing []string
	for _, u := range LabUsers() {
		if p.Passwords[u] == "" {
			missing = append(missing, u)
		}
	}
	if p.MgmtIP == "" || p.Region == "" || len(missing) > 0 {
		return Spec{}, fmt.Errorf("identity lab spec: need management address, region and passwords (missing passwords: %s)",
			strings.Join(missing, ", "))
	}
	url := func(port, path string) string { return "http://" + net.JoinHostPort(p.MgmtIP, port) + path }
	all := func(u string) Endpoints { return Endpoints{Public: u, Internal: u, Admin: u} }

	s := Spec{
		DomainID: "default",
		Region:   p.Region,
		Projects: []Project{{Name: ServiceProject, Description: "Service Project"}},
		Roles:    []string{AdminRole, MemberRole},
		Services: []Service{
			{Name: "keystone", Type: "identity", Endpoints: all(KeystoneURL(p.MgmtIP))},
			{Name: "glance", Type: "image", Description: "OpenStack Image", Endpoints: all(url(GlancePort, ""))},
			{Name: "placement", Type: "placement", Description: "Placement API", Endpoints: all(url(PlacementPort, ""))},
			{Name: "nova", Type: "compute", Description: "OpenStack Compute", Endpoints: all(url(NovaPort, "/v2.1"))},
			{Name: "neutron", Type: "network", Description: "OpenStack Networking", Endpoints: all(url(NeutronPort, ""))},
		},
	}
	for _, u := range LabUsers() {
		s.Users = append(s.Users, User{Name: u, Password: p.Passwords[u]})
		s.Assignments = append(s.Assignments, Assignment{User: u, Project: ServiceProject, Role: AdminRole})
	}
	return s, nil
}

// validate catches spec mistakes before any request is sent.
func (s Spec) validate() error {
	var errs []error
	if s.DomainID == "" {
		errs = append(errs, errors.New("domain ID is empty"))
	}
	if s.Region == "" && len(s.Services) > 0 {
		errs = append(errs, errors.New("region is empty"))
	}
	seen := map[string]bool{}
	for _, u := range s.Users {
		if u.Name == "" || u.Password == "" {
			errs = append(errs, fmt.Errorf("user %q needs a name and a password", u.Name))
		}
		if seen["u/"+u.Name] {
			errs = append(errs, fmt.Errorf("user %q listed twice", u.Name))
		}
		seen["u/"+u.Name] = true
	}
	for _, p := range s.Projects {
		if p.Name == "" {
			errs = append(errs, errors.New("project with empty name"))
		}
	}
	for _, a := range s.Assignments {
		if a.User == "" || a.Project == "" || a.Role == "" {
			errs = append(errs, fmt.Errorf("assignment %+v is incomplete", a))
		}
	}
	for _, svc := range s.Services {
		if svc.Name == "" || svc.Type == "" {
			errs = append(errs, fmt.Errorf("service %q/%q needs a name and a type", svc.Name, svc.Type))
		}
		if seen["s/"+svc.Type+"/"+svc.Name] {
			errs = append(errs, fmt.Errorf("service %s (%s) listed twice", svc.Name, svc.Type))
		}
		seen["s/"+svc.Type+"/"+svc.Name] = true
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("keystone: invalid spec: %w", err)
	}
	return nil
}
