package cloud

import (
	"context"
	"fmt"
	"net/http"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack"
)

// OpenEntry authenticates with credentials held in memory — an
// admin-openrc's OS_* variables, as the install guides leave them — rather
// than a clouds.yaml entry. source names where they came from (the
// environment, an openrc file) and stands in for Cloud.File.
func OpenEntry(ctx context.Context, e CloudEntry, source string, hc *http.Client) (*Cloud, error) {
	e = e.withDefaults()
	if e.AuthURL == "" || e.Username == "" || e.Password.Reveal() == "" {
		return nil, fmt.Errorf("cloud %s: %s lacks auth URL, user or password", e.Name, source)
	}
	ao := gophercloud.AuthOptions{
		IdentityEndpoint: e.AuthURL,
		Username:         e.Username,
		Password:         e.Password.Reveal(),
		DomainName:       e.UserDomainName,
		AllowReauth:      true,
	}
	if e.ProjectName != "" {
		ao.Scope = &gophercloud.AuthScope{ProjectName: e.ProjectName, DomainName: e.ProjectDomainName}
	}
	pc, err := openstack.NewClient(e.AuthURL)
	if err != nil {
		return nil, &redactedError{fmt.Errorf("cloud %s: auth URL %q: %w", e.Name, e.AuthURL, err)}
	}
	pc.HTTPClient = httpClient(hc, nil)
	if err := openstack.Authenticate(ctx, pc, ao); err != nil {
		return nil, classifyAuthError(e.Name, source, e.AuthURL, err)
	}
	pc.EndpointLocator = catalogLocator(pc)
	eo := gophercloud.EndpointOpts{Region: e.RegionName, Availability: gophercloud.Availability(e.Interface)}
	return &Cloud{Name: e.Name, File: source, AuthURL: e.AuthURL, Provider: pc, Endpoint: eo}, nil
}
