package identity

import (
	"cmp"
	"context"
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/endpoints"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/services"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/tokens"
)

// Endpoint is one catalog endpoint, with its service's name and type.
type Endpoint struct {
	ID        string
	Service   string // name, or the service ID when keystone has no such service
	Type      string
	Interface string
	Region    string
	URL       string
}

// Mismatch is a catalog endpoint that does not point at the management
// address.
type Mismatch struct {
	Endpoint
	Host string // host part of URL; empty when URL does not parse
}

func (m Mismatch) String() string {
	if m.Host == "" {
		return fmt.Sprintf("%s (%s) %s endpoint in %s has an unusable URL %q", m.Service, m.Type, m.Interface, m.Region, m.URL)
	}
	return fmt.Sprintf("%s (%s) %s endpoint in %s points at %s (%s)", m.Service, m.Type, m.Interface, m.Region, m.Host, m.URL)
}

// ListEndpoints reads every endpoint of the catalog with its service's
// name and type. It is split from Mismatches so that stacklab doctor lists
// the catalog once and both grades and probes that one listing. An error
// means the catalog could not be read, which doctor must not mistake for
// "no mismatches".
func ListEndpoints(ctx context.Context, client *gophercloud.ServiceClient) ([]Endpoint, error) {
	page, err := services.List(client, nil).AllPages(ctx)
	if err != nil {
		return nil, fmt.Errorf("keystone: list services: %w", err)
	}
	svcs, err := services.ExtractServices(page)
	if err != nil {
		return nil, fmt.Errorf("keystone: list services: %w", err)
	}
	byID := map[string]services.Service{}
	for _, s := range svcs {
		byID[s.ID] = s
	}

	page, err = endpoints.List(client, nil).AllPages(ctx)
	if err != nil {
		return nil, fmt.Errorf("keystone: list endpoints: %w", err)
	}
	eps, err := endpoints.ExtractEndpoints(page)
	if err != nil {
		return nil, fmt.Errorf("keystone: list endpoints: %w", err)
	}
	out := make([]Endpoint, 0, len(eps))
	for _, e := range eps {
		ep := Endpoint{ID: e.ID, Service: e.ServiceID, Interface: string(e.Availability), Region: endpointRegion(e), URL: e.URL}
		if s, ok := byID[e.ServiceID]; ok {
			ep.Service, ep.Type = serviceName(s), s.Type
		}
		out = append(out, ep)
	}
	return out, nil
}

// CatalogEndpoints flattens a token's catalog (GET /v3/auth/catalog) into
// endpoints: the catalog as every client sees it, enabled services and
// endpoints only, read by any user in one request.
func CatalogEndpoints(entries []tokens.CatalogEntry) []Endpoint {
	var out []Endpoint
	for _, s := range entries {
		for _, e := range s.Endpoints {
			out = append(out, Endpoint{ID: e.ID, Service: cmp.Or(s.Name, s.ID), Type: s.Type,
				Interface: e.Interface, Region: cmp.Or(e.RegionID, e.Region), URL: e.URL})
		}
	}
	return out
}

// Mismatches returns the endpoints whose host is not mgmtIP, sorted by
// service, interface and region. stacklab doctor reports them; Converge
// with LabSpec for the current address fixes them.
func Mismatches(eps []Endpoint, mgmtIP string) []Mismatch {
	var out []Mismatch
	for _, e := range eps {
		host := endpointHost(e.URL)
		if host != "" && strings.EqualFold(host, mgmtIP) {
			continue
		}
		out = append(out, Mismatch{Endpoint: e, Host: host})
	}
	slices.SortFunc(out, func(a, b Mismatch) int {
		return cmp.Or(cmp.Compare(a.Service, b.Service), cmp.Compare(a.Interface, b.Interface),
			cmp.Compare(a.Region, b.Region), cmp.Compare(a.ID, b.ID))
	})
	return out
}

// endpointHost returns the host of an endpoint URL without port or IPv6
// brackets, or "" when it has none.
func endpointHost(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	return u.Hostname()
}
