package openstack

// ServiceProject is the project the service users live in.
const ServiceProject = "service"

// AdminRole is the role bootstrap creates and service users are granted on
// ServiceProject.
const AdminRole = "admin"

// ServiceCatalog is what stacklab creates in keystone once it answers. The
// identity service, its endpoints, the admin user and project and the
// admin/member/reader roles come from `keystone-manage bootstrap` (see
// SyncCommands).
type ServiceCatalog struct {
	// Project is created (domain Default) and holds the service users.
	Project  string
	Users    []ServiceUser
	Services []Service
}

// ServiceUser is a user in the Default domain granted Role on Project.
type ServiceUser struct {
	Name     string
	Password string
	Project  string
	Role     string
}

// Service is a catalog entry with its endpoints.
type Service struct {
	Name        string
	Type        string
	Description string
	Endpoints   []Endpoint
}

// Endpoint is one interface (public, internal, admin) of a service.
type Endpoint struct {
	Interface string
	Region    string
	URL       string
}

// Catalog returns the service users and services of the lab. Every
// endpoint is on the management address in p.Region (the region must match
// keystone_authtoken's region_name everywhere: "Region case").
func Catalog(p Params) ServiceCatalog {
	user := func(name, pw string) ServiceUser {
		return ServiceUser{Name: name, Password: pw, Project: ServiceProject, Role: AdminRole}
	}
	svc := func(name, typ, desc, url string) Service {
		s := Service{Name: name, Type: typ, Description: desc}
		for _, i := range []string{"public", "internal", "admin"} {
			s.Endpoints = append(s.Endpoints, Endpoint{Interface: i, Region: p.Region, URL: url})
		}
		return s
	}
	base := "http://" + p.MgmtIP
	return ServiceCatalog{
		Project: ServiceProject,
		Users: []ServiceUser{
			user("glance", p.GlanceUser),
			user("placement", p.PlacementUser),
			user("nova", p.NovaUser),
			user("neutron", p.NeutronUser),
		},
		Services: []Service{
			svc("glance", "image", "OpenStack Image", base+":9292"),
			svc("placement", "placement", "Placement API", base+":8778"),
			svc("nova", "compute", "OpenStack Compute", base+":8774/v2.1"),
			svc("neutron", "network", "OpenStack Networking", base+":9696"),
		},
	}
}

// IdentityURL is keystone's endpoint (all three interfaces), as given to
// bootstrap and used by every client.
func IdentityURL(p Params) string { return keystoneURL(p) + "/v3/" }
