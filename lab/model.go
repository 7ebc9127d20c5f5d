// Package lab is the one resolved model of the all-in-one lab: from the
// configuration, the secrets and what the host says about itself to the
// addresses, URLs, units, ports, catalog and credentials every command
// works with. The installer, doctor, services, preflight and up all take a
// Model, so a URL or a unit list is never rebuilt elsewhere and never
// drifts (up once printed /horizon while the lab served horizon.web_root).
package lab

import (
	"fmt"

	"github.com/stacklab/stacklab/checks/host"
	"github.com/stacklab/stacklab/installer/config"
	"github.com/stacklab/stacklab/installer/identity"
	"github.com/stacklab/stacklab/installer/openstack"
	"github.com/stacklab/stacklab/internal/cloud"
	"github.com/stacklab/stacklab/internal/fix"
)

// Model is the lab as it is (or will be) on this host.
type Model struct {
	// Params are what installer/openstack renders the lab's packages,
	// files and tiers from.
	openstack.Params
	// Facts are the host readings the model was resolved from.
	Facts Facts
	// MgmtIf is the management NIC as configured ("" = detected).
	MgmtIf string
}

// Resolve makes the model: the configuration wins, the host fills what
// the configuration leaves to detection (address, external NIC, MTU, virt
// type, worker count).
func Resolve(cfg config.Config, s config.Secrets, f Facts) Model {
	p := openstack.Params{
		Hostname:                  f.Hostname,
		MgmtIP:                    cfg.Network.ManagementAddress,
		ExtIf:                     cfg.Network.ExternalInterface,
		Region:                    cfg.OpenStack.Region,
		ComputeDriver:             string(cfg.Compute.Driver),
		VirtType:                  string(cfg.Compute.VirtType),
		ProviderNet:               cfg.Network.ProviderNetwork,
		Release:                   f.Release,
		NeutronBackend:            NeutronBackend(cfg),
		OVSDatapath:               f.OVSDatapath,
		MTU:                       cfg.Network.MTU,
		Workers:                   cfg.Services.Workers,
		HorizonWebRoot:            cfg.Horizon.WebRoot,
		TimeZone:                  cfg.Horizon.TimeZone,
		CgroupControllersReadOnly: f.CgroupRO,
		WithClient:                true,
		AdminUser:                 cfg.Admin.User,
		AdminProject:              cfg.Admin.Project,
	}
	if p.MgmtIP == "" {
		p.MgmtIP = f.MgmtIP
	}
	if p.ExtIf == "" {
		p.ExtIf = f.ExtIf
	}
	if p.VirtType == "" || p.VirtType == string(config.VirtAuto) {
		p.VirtType = f.VirtType
	}
	if p.MTU == 0 {
		p.MTU = f.MTU
	}
	if p.Workers == 0 {
		p.Workers = openstack.WorkersFor(f.CPUs)
	}
	get := func(n config.SecretName) string { return s.Get(n).Reveal() }
	p.Secrets = openstack.Secrets{
		AdminPassword:    get(config.SecretAdmin),
		KeystoneDB:       get(config.SecretKeystoneDB),
		GlanceDB:         get(config.SecretGlanceDB),
		GlanceUser:       get(config.SecretGlanceUser),
		PlacementDB:      get(config.SecretPlacementDB),
		PlacementUser:    get(config.SecretPlacementUser),
		NovaDB:           get(config.SecretNovaDB),
		NovaUser:         get(config.SecretNovaUser),
		NeutronDB:        get(config.SecretNeutronDB),
		NeutronUser:      get(config.SecretNeutronUser),
		Rabbit:           get(config.SecretRabbit),
		MetadataSecret:   get(config.SecretMetadata),
		HorizonSecretKey: get(config.SecretHorizonSecretKey),
	}
	return Model{Params: p, Facts: f, MgmtIf: cfg.Network.ManagementInterface}
}

// OfConfig is the model for what the configuration and the release
// decide: the units and their order. services needs no other host
// reading or secret for it. Like Describable, a backend the release
// refuses is described as the release's default builds it.
func OfConfig(cfg config.Config, release string) Model {
	p := openstack.Params{
		ComputeDriver:  string(cfg.Compute.Driver),
		Release:        release,
		NeutronBackend: NeutronBackend(cfg),
		HorizonWebRoot: cfg.Horizon.WebRoot,
	}
	return Model{Params: p, MgmtIf: cfg.Network.ManagementInterface}.Describable()
}

// CheckChoices refuses what the configuration asks and this host's release
// cannot build (a neutron backend the release lacks), with the reason and
// the fix; it needs no secret, so install asks it before writing any.
func CheckChoices(cfg config.Config, f Facts) error {
	if _, err := openstack.ResolveBackend(f.Release, NeutronBackend(cfg)); err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	return nil
}

// Describable is m with a backend the release refuses replaced by the
// release's default: doctor describes a lab install would refuse as
// install would have built it, instead of stopping.
func (m Model) Describable() Model {
	if _, err := openstack.ResolveBackend(m.Release, m.NeutronBackend); err != nil {
		m.NeutronBackend = ""
	}
	return m
}

// Of wraps parameters already resolved (tests, and the installer's own
// phases, which receive Params).
func Of(p openstack.Params) Model { return Model{Params: p} }

// Validate reports every problem at once, with where to fix it.
func (m Model) Validate() error {
	if err := m.Params.Validate(); err != nil {
		return fix.Errorf("set the values in "+config.DefaultPath, "lab parameters:\n%w", err)
	}
	return nil
}

// KeystoneURL is the identity v3 URL clients log in at (clouds.yaml,
// Horizon, doctor's probes).
func (m Model) KeystoneURL() string { return openstack.KeystoneURL(m.MgmtIP) }

// DashboardURL is Horizon's root, under the configured web root.
func (m Model) DashboardURL() string { return openstack.DashboardURL(m.MgmtIP, m.HorizonWebRoot) }

// DashboardLoginURL is Horizon's login page.
func (m Model) DashboardLoginURL() string { return openstack.DashboardLoginURL(m.DashboardURL()) }

// ConsoleURL is the noVNC page nova's console URLs start with.
func (m Model) ConsoleURL() string { return openstack.ConsoleBaseURL(m.MgmtIP) }

// Tiers are the units grouped in start order.
func (m Model) Tiers() []openstack.Tier { return openstack.Tiers(m.Params) }

// Units are the lab's units in start (dependency) order.
func (m Model) Units() []string { return openstack.Units(m.Params) }

// Files are the paths of the configuration files the lab writes (support
// bundles collect them).
func (m Model) Files() []string {
	var out []string
	for _, f := range openstack.Files(m.Params) {
		out = append(out, f.Path)
	}
	return out
}

// Ports are the ports the lab's services bind, which must be free before
// install: the back ends, every API of the catalog, nova's metadata and
// console proxy, and Horizon's port 80.
func (m Model) Ports() []host.ServicePort {
	out := []host.ServicePort{{Port: 3306, Service: "MariaDB"}, {Port: 5672, Service: "RabbitMQ"}, {Port: 11211, Service: "memcached"}}
	for _, a := range openstack.APIs() {
		out = append(out, host.ServicePort{Port: uint16(a.Port), Service: a.Unit})
	}
	return append(out, host.ServicePort{Port: 8775, Service: "nova metadata"},
		host.ServicePort{Port: openstack.ConsolePort, Service: "nova-novncproxy"}, host.ServicePort{Port: 80, Service: "horizon (apache2)"})
}

// ServiceUsers are the keystone users the services log in as, with their
// passwords, in the order the install guide creates them.
func (m Model) ServiceUsers() []identity.User {
	return []identity.User{
		{Name: "glance", Password: cloud.Secret(m.GlanceUser)},
		{Name: "placement", Password: cloud.Secret(m.PlacementUser)},
		{Name: "nova", Password: cloud.Secret(m.NovaUser)},
		{Name: "neutron", Password: cloud.Secret(m.NeutronUser)},
	}
}

// Catalog is keystone's state beyond bootstrap: project "service", the
// service users holding admin on it, role "member", and every API's
// endpoint on the management address in all three interfaces. Converging
// it again after the address changed is how doctor re-points the catalog.
func (m Model) Catalog() (identity.Spec, error) {
	var missing []string
	for _, u := range m.ServiceUsers() {
		if u.Password == "" {
			missing = append(missing, u.Name)
		}
	}
	if m.MgmtIP == "" || m.Region == "" || len(missing) > 0 {
		return identity.Spec{}, fmt.Errorf("lab catalog: need management address, region and passwords (missing passwords: %v)", missing)
	}
	s := identity.Spec{
		DomainID: "default",
		Region:   m.Region,
		Projects: []identity.Project{{Name: openstack.ServiceProject, Description: "Service Project"}},
		Roles:    []string{openstack.AdminRole, identity.MemberRole},
	}
	for _, a := range openstack.APIs() {
		u := a.URL(m.MgmtIP)
		s.Services = append(s.Services, identity.Service{Name: a.Name, Type: a.Type, Description: a.Description,
			Endpoints: identity.Endpoints{Public: u, Internal: u, Admin: u}})
	}
	for _, u := range m.ServiceUsers() {
		s.Users = append(s.Users, u)
		s.Assignments = append(s.Assignments, identity.Assignment{User: u.Name, Project: openstack.ServiceProject, Role: openstack.AdminRole})
	}
	return s, nil
}

// Admin is the admin's credential, as written to clouds.yaml and
// admin-openrc.
func (m Model) Admin() cloud.CloudEntry {
	return cloud.CloudEntry{
		Name:              cloud.DefaultCloudName,
		AuthURL:           m.KeystoneURL(),
		Username:          m.AdminUser,
		Password:          cloud.Secret(m.AdminPassword),
		ProjectName:       m.AdminProject,
		UserDomainName:    "Default",
		ProjectDomainName: "Default",
		RegionName:        m.Region,
	}
}
