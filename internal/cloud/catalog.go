package cloud

import (
	"slices"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/tokens"
)

// catalogLocator finds a service's endpoint in the token's catalog and
// nowhere else. gophercloud's own locator first GETs each endpoint's
// version document: one more request per service on every run, made while
// the playbook drivers hold the lock that hands out clients, so every
// other read waited on it. The catalog already names the versioned URL
// (stacklab writes it so); a service that is down still shows, on the first
// real request instead of on discovery. The catalog is read from the
// provider's current auth result on every call, so a re-login's catalog
// is the one used.
func catalogLocator(pc *gophercloud.ProviderClient) gophercloud.EndpointLocator {
	return func(eo gophercloud.EndpointOpts) (string, error) {
		cat, ok := catalogOf(pc)
		if !ok {
			return "", &gophercloud.ErrEndpointNotFound{}
		}
		return endpointURL(cat, eo)
	}
}

func catalogOf(pc *gophercloud.ProviderClient) (*tokens.ServiceCatalog, bool) {
	res, ok := pc.GetAuthResult().(tokens.CreateResult)
	if !ok {
		return nil, false
	}
	cat, err := res.ExtractServiceCatalog()
	if err != nil {
		return nil, false
	}
	return cat, true
}

// endpointURL is the first endpoint of eo's type (and name, when given) with
// its interface and region, as openstackclient picks one.
func endpointURL(cat *tokens.ServiceCatalog, eo gophercloud.EndpointOpts) (string, error) {
	for _, e := range cat.Entries {
		if !slices.Contains(eo.Types(), e.Type) || (eo.Name != "" && e.Name != eo.Name) {
			continue
		}
		for _, ep := range e.Endpoints {
			if gophercloud.Availability(ep.Interface) != eo.Availability {
				continue
			}
			if eo.Region != "" && ep.Region != eo.Region && ep.RegionID != eo.Region {
				continue
			}
			return gophercloud.NormalizeURL(ep.URL), nil
		}
	}
	return "", &gophercloud.ErrEndpointNotFound{}
}
