package main

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/gophercloud/gophercloud/v2/openstack/config/clouds"

	"github.com/stacklab/stacklab/checks"
	"github.com/stacklab/stacklab/checks/doctor"
	"github.com/stacklab/stacklab/checks/doctor/labfind"
	"github.com/stacklab/stacklab/installer/openstack"
	"github.com/stacklab/stacklab/internal/cloud"
	"github.com/stacklab/stacklab/internal/systemd"
)

// handMadeFixWhy: in a lab stacklab did not build doctor edits one file
// at most, Horizon's Apache site.
const handMadeFixWhy = "no repairs here: stacklab did not install this lab, so doctor only restarts failed units (and apache2 when Horizon hangs) and puts Horizon in its WSGI daemon process (asking before each, keeping the old file); follow each fix above"

// handMadeSetup wires doctor for a lab installed by hand (no
// /etc/stacklab/secrets.yaml): discovery reads the lab from its own files,
// credentials come from --openrc, --os-cloud or the OS_* environment.
// ok is false when nothing here looks like an OpenStack lab.
func (e *env) handMadeSetup(ctx context.Context, o doctorOptions, base doctorSetup, hostname, routeIP string) (doctorSetup, bool, error) {
	lab, err := labfind.Discover("/")
	if errors.Is(err, labfind.ErrNoLab) {
		return base, false, nil
	}
	if err != nil {
		return base, false, err
	}
	creds, credsWhy, open, err := handMadeCreds(o)
	if err != nil {
		return base, false, err
	}
	s := base
	s.cfg = labfind.Config(lab, labfind.Host{
		Hostname: hostname, RouteIP: routeIP, Root: os.Geteuid() == 0, Creds: creds, CredsWhy: credsWhy,
	})
	s.deps.Cloud = open
	if sd, err := systemd.Connect(ctx); err != nil {
		s.cfg.Lab, s.cfg.NotLabReason = false, "connect to systemd: "+err.Error()+" (run as root on the lab host)"
	} else {
		s.deps.Units, s.close = sd, sd.Close
		// Restarting a failed unit writes no file; each is asked for.
		cfg := s.cfg
		// The Horizon site edit reads Apache's configuration as its check
		// did and writes only that site, keeping the old file.
		wf := doctor.HostRepairer{Host: doctor.System{Root: "/"}}
		r := doctor.Restarter{Units: sd, Note: e.note}
		if cfg.HorizonURL != "" {
			r.Dashboard = openstack.DashboardLoginURL(cfg.HorizonURL)
		}
		s.plan = func(rep checks.Report) []doctor.Repair { return doctor.PlanHandMade(rep, cfg, r.Restart, wf) }
		s.askEach = true
	}
	s.cfg.HostVirt, s.cfg.HostReason = base.cfg.HostVirt, base.cfg.HostReason
	s.redact = labfind.Redactor(labfind.Secrets(lab, creds))
	s.files, s.repairer, s.noFixWhy = lab.Files, nil, handMadeFixWhy
	return s, true, nil
}

// handMadeCreds finds the admin's credentials the way guides leave them:
// --openrc FILE (read, never run), --os-cloud NAME (clouds.yaml), then the
// OS_* variables of an admin-openrc sourced in this shell. None is not an
// error: the checks that log in are skipped, saying why.
func handMadeCreds(o doctorOptions) (*cloud.CloudEntry, string, func(context.Context) (*cloud.Cloud, error), error) {
	none := func(context.Context) (*cloud.Cloud, error) {
		return nil, errors.New("no admin credentials")
	}
	fromEntry := func(e cloud.CloudEntry, source string) func(context.Context) (*cloud.Cloud, error) {
		return func(ctx context.Context) (*cloud.Cloud, error) {
			return cloud.OpenEntry(ctx, e, source, doctorHTTP(probeHeaderTimeout))
		}
	}
	if f := o.openrc; f != "" {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, "", nil, fmt.Errorf("--openrc: %w", err)
		}
		vars, err := labfind.ParseOpenRC(b)
		if err != nil {
			return nil, "", nil, fmt.Errorf("--openrc %s: %w", f, err)
		}
		e, err := labfind.CredsFromEnv(func(k string) string { return vars[k] }, f)
		if err != nil {
			return nil, "", nil, fmt.Errorf("--openrc: %w", err)
		}
		return &e, "", fromEntry(e, f), nil
	}
	if name := o.osCloud; name != "" {
		opts := []clouds.ParseOption{clouds.WithCloudName(name)}
		if f := os.Getenv("OS_CLIENT_CONFIG_FILE"); f != "" {
			opts = append(opts, clouds.WithLocations(f))
		}
		ao, eo, _, err := clouds.Parse(opts...)
		if err != nil {
			return nil, "", nil, fmt.Errorf("--os-cloud %s: %w", name, err)
		}
		e := &cloud.CloudEntry{Name: name, AuthURL: ao.IdentityEndpoint, Username: ao.Username,
			Password: cloud.Secret(ao.Password), RegionName: eo.Region}
		return e, "", func(ctx context.Context) (*cloud.Cloud, error) {
			return cloud.Open(ctx, cloud.Options{Cloud: name, HTTPClient: doctorHTTP(probeHeaderTimeout), Tokens: tokenCache()})
		}, nil
	}
	e, err := labfind.CredsFromEnv(os.Getenv, "the OS_* environment")
	if errors.Is(err, labfind.ErrNoCreds) {
		return nil, err.Error(), none, nil
	}
	if err != nil {
		return nil, "", nil, err
	}
	return &e, "", fromEntry(e, "the OS_* environment"), nil
}
