package main

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"github.com/stacklab/stacklab/internal/cloud"
	"github.com/stacklab/stacklab/internal/reach"
	"github.com/stacklab/stacklab/lab"
	"github.com/stacklab/stacklab/playbooks"
	"github.com/stacklab/stacklab/playbooks/image"
	"github.com/stacklab/stacklab/playbooks/image/tiny"
	pbos "github.com/stacklab/stacklab/playbooks/openstack"
	"github.com/stacklab/stacklab/up"
)

// realRunDeps wires run to the cloud named in clouds.yaml and to the
// image builders.
func (e *env) realRunDeps() runDeps {
	return runDeps{
		stateDir:    StateDir,
		glanceStore: image.Statfs{},
		open: func(ctx context.Context, name string, progress uploadProgress) (playbooks.Cloud, error) {
			c, err := cloud.Open(ctx, cloud.Options{Cloud: name, Tokens: tokenCache()})
			if err != nil {
				return nil, err
			}
			return pbos.New(c, pbos.Options{Progress: progress, Reach: pingFromHere, Convert: convertCached}), nil
		},
		build: func(ctx context.Context, recipe, path string, log func(string)) error {
			if recipe != "tiny" {
				return fmt.Errorf("unknown image recipe %q (this stacklab builds: tiny)", recipe)
			}
			_, err := buildTiny(ctx, tiny.Options{Output: path}, log)
			return err
		},
	}
}

// ConvertCacheDir keeps the qcow2 copies of disks playbooks declare with
// convert: qcow2.
const ConvertCacheDir = StateDir + "/images/converted"

func convertCached(ctx context.Context, src string) (string, error) {
	p, _, err := image.Cache{Dir: ConvertCacheDir}.QCOW2(ctx, src)
	return p, err
}

// upSummary says where the lab's dashboard is (the model's URL, web root
// included) and reads the playbook's first server from the cloud.
func (e *env) upSummary(ctx context.Context, m lab.Model, playbook string) (up.Summary, error) {
	s := up.Summary{
		Dashboard:   m.DashboardURL(),
		Credentials: []string{"/root/admin-openrc", "/etc/openstack/clouds.yaml (cloud " + cloud.DefaultCloudName + ")"},
		Laptop:      laptopAdvice(m.MgmtIP, m.Facts.Gateway, m.HorizonWebRoot),
	}
	pb, err := loadPlaybook(playbook, StateDir)
	if err != nil || len(pb.Servers) == 0 {
		return s, err
	}
	cl, err := cloud.Open(ctx, cloud.Options{Tokens: tokenCache()})
	if err != nil {
		return s, err
	}
	srv := pb.Servers[0]
	info, err := pbos.New(cl, pbos.Options{}).ServerInfo(ctx, srv.Name)
	if err != nil {
		return s, fmt.Errorf("server %s: %w", srv.Name, err)
	}
	s.Server = srv.Name
	s.FixedIP = strings.Join(info.FixedIPs, ", ")
	s.FloatingIP = strings.Join(info.FloatingIPs, ", ")
	for _, k := range pb.Keypairs {
		if k.Name == srv.Keypair && k.PrivateKeyPath != "" {
			s.PrivateKey = k.PrivateKeyPath
		}
	}
	s.Console = upConsole(ctx, cl, srv.Name, info.Status)
	if len(info.FloatingIPs) > 0 {
		// A floating IP is reachable from the external network only: on a
		// lab VM that is the network behind the external NIC.
		s.Reach = fmt.Sprintf("from a machine on the external network: ping %s; curl http://%s/", info.FloatingIPs[0], info.FloatingIPs[0])
		if s.PrivateKey != "" {
			s.Reach += fmt.Sprintf("; ssh -i %s USER@%s on an image with sshd", s.PrivateKey, info.FloatingIPs[0])
		}
	}
	return s, nil
}

// pingFromHere proves a floating IP answers. On the lab's own network node
// the router's namespace is here, and only from there is the address
// reachable (the external NIC has none); elsewhere (another cloud from
// clouds.yaml) the ping leaves from this host, as a user's would.
func pingFromHere(ctx context.Context, addr, routerNS string) error {
	a, err := netip.ParseAddr(addr)
	if err != nil {
		return fmt.Errorf("ping: %w", err)
	}
	err = reach.Ping(ctx, a, reach.NamespacePath(routerNS))
	var na *reach.NoAnswerError
	if err != nil && !errors.As(err, &na) {
		// It never sent: say so instead of blaming a hop.
		return &pbos.ProbeError{Err: err}
	}
	return err
}

// upConsole is up's console line for the server: its URL for the laptop,
// or why there is none (up does not fail on it: doctor, before it, has
// checked the console path).
func upConsole(ctx context.Context, cl *cloud.Cloud, server, status string) []string {
	if status != "ACTIVE" {
		return []string{fmt.Sprintf("none: %s is %s", server, status)}
	}
	u, err := pbos.New(cl, pbos.Options{}).ServerConsole(ctx, server)
	if err != nil {
		return []string{"none: " + err.Error()}
	}
	return append([]string{u + " (valid 10 minutes; stacklab console " + server + " makes a new one)"}, laptopConsole(u)...)
}
