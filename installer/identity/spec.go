// Package identity converges keystone's projects, users, roles and service
// catalog to a Spec through the identity v3 API, and checks the catalog's
// endpoints against the management address for stacklab doctor.
package identity

import (
	"errors"
	"fmt"

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

// MemberRole is the role Horizon gives new users
// (OPENSTACK_KEYSTONE_DEFAULT_ROLE); the lab's catalog makes sure it exists.
const MemberRole = "member"

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
