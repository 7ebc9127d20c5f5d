// Package openstack drives a real OpenStack cloud for the playbooks engine:
// one playbooks.Driver per kind, each reading and writing nova, neutron and
// glance through gophercloud. Resources are found by name and owned through
// the playbooks.Marker they carry (in a description, an image property, or
// a public key's comment), so destroy never touches what a person made.
//
// Decisions (what differs, which rules are neutron's defaults, what a nova
// fault means) are pure functions; the drivers only move data.
package openstack

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/gophercloud/gophercloud/v2"

	"github.com/stacklab/stacklab/internal/cloud"
	"github.com/stacklab/stacklab/playbooks"
)

// computeMicroversion is the nova API version every compute request uses:
// 2.55 is the first with flavor descriptions, and it also has server
// descriptions (2.19) and the flavor embedded by name in a server (2.47).
// Zed serves up to 2.93.
const computeMicroversion = "2.55"

// Options tune the drivers.
type Options struct {
	// Progress, when set, is called while an image uploads with the bytes
	// sent so far; the CLI draws the bar.
	Progress func(name string, done, total int64)
	// PollInterval is the longest pause between two reads of a server's
	// state or console while waiting (the first come faster: pollDelay);
	// 0 means two seconds.
	PollInterval time.Duration
	// Log, when set, receives one line per noteworthy step (a resource
	// recreated because it cannot be changed in place, ...).
	Log func(format string, args ...any)
	// Reach, when set, proves a floating IP declared with ping: it returns
	// nil once addr answers, else an error when ctx ends. routerNS is the
	// network namespace of the router that NATs the address (see
	// RouterNamespace), for a prober on the node that hosts it; "" when
	// no router holds it yet.
	Reach func(ctx context.Context, addr, routerNS string) error
	// Convert, when set, returns a qcow2 copy of the disk at src for an
	// image declared with convert: qcow2 (image.Cache.QCOW2 does this);
	// without it such an image is refused.
	Convert func(ctx context.Context, src string) (string, error)
}

// Services hands out the service clients; *cloud.Cloud is one.
type Services interface {
	Compute() (*gophercloud.ServiceClient, error)
	Network() (*gophercloud.ServiceClient, error)
	Image() (*gophercloud.ServiceClient, error)
}

// Cloud is a playbooks.Cloud on a real OpenStack. Service clients are made
// on first use and shared by every driver (they are safe for concurrent
// use).
type Cloud struct {
	svc Services
	o   Options

	imageStatus imageStatuses

	mu      sync.Mutex
	compute *gophercloud.ServiceClient
	network *gophercloud.ServiceClient
	image   *gophercloud.ServiceClient
}

// New returns the drivers for c.
func New(c *cloud.Cloud, o Options) *Cloud {
	return NewWithServices(c, o)
}

// NewWithServices is New over any source of service clients.
func NewWithServices(s Services, o Options) *Cloud {
	if o.PollInterval <= 0 {
		o.PollInterval = 2 * time.Second
	}
	return &Cloud{svc: s, o: o}
}

func (c *Cloud) logf(format string, args ...any) {
	if c.o.Log != nil {
		c.o.Log(format, args...)
	}
}

// Driver returns the driver of kind.
func (c *Cloud) Driver(kind playbooks.Kind) (playbooks.Driver, error) {
	switch kind {
	case playbooks.KindFlavor:
		return &flavorDriver{c}, nil
	case playbooks.KindNetwork:
		return &networkDriver{c}, nil
	case playbooks.KindSubnet:
		return &subnetDriver{c}, nil
	case playbooks.KindRouter:
		return &routerDriver{c}, nil
	case playbooks.KindSecurityGroup:
		return &secGroupDriver{c}, nil
	case playbooks.KindKeypair:
		return &keypairDriver{c}, nil
	case playbooks.KindImage:
		return &imageDriver{c}, nil
	case playbooks.KindServer:
		return &serverDriver{c}, nil
	case playbooks.KindFloatingIP:
		return &floatingIPDriver{c}, nil
	}
	return nil, fmt.Errorf("openstack: no driver for kind %q", kind)
}

func (c *Cloud) client(slot **gophercloud.ServiceClient, make func() (*gophercloud.ServiceClient, error), what string) (*gophercloud.ServiceClient, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if *slot != nil {
		return *slot, nil
	}
	sc, err := make()
	if err != nil {
		return nil, fmt.Errorf("%s client: %w", what, err)
	}
	*slot = sc
	return sc, nil
}

func (c *Cloud) novaClient() (*gophercloud.ServiceClient, error) {
	return c.client(&c.compute, func() (*gophercloud.ServiceClient, error) {
		sc, err := c.svc.Compute()
		if err != nil {
			return nil, err
		}
		// A copy: the caller's client keeps its own microversion.
		cp := *sc
		cp.Microversion = computeMicroversion
		return &cp, nil
	}, "nova")
}

func (c *Cloud) neutronClient() (*gophercloud.ServiceClient, error) {
	return c.client(&c.network, c.svc.Network, "neutron")
}

func (c *Cloud) glanceClient() (*gophercloud.ServiceClient, error) {
	return c.client(&c.image, c.svc.Image, "glance")
}

// isNotFound tells a 404, which for a read or delete means "gone".
func isNotFound(err error) bool {
	return gophercloud.ResponseCodeIs(err, http.StatusNotFound)
}

// ignoreNotFound makes deleting something already gone a success.
func ignoreNotFound(err error) error {
	if isNotFound(err) {
		return nil
	}
	return err
}

// DuplicateError: a name that must identify one resource names several.
type DuplicateError struct {
	Kind playbooks.Kind
	Name string
	IDs  []string
}

func (e *DuplicateError) Error() string {
	return fmt.Sprintf("%d %ss are named %q (IDs %v): rename or delete all but one, the playbook refers to them by name",
		len(e.IDs), e.Kind, e.Name, e.IDs)
}

// pickOne returns the single item named name; several are a *DuplicateError.
func pickOne[T any](kind playbooks.Kind, name string, items []T, nameOf, idOf func(T) string) (T, bool, error) {
	var found []T
	for _, it := range items {
		if nameOf(it) == name {
			found = append(found, it)
		}
	}
	var zero T
	switch len(found) {
	case 0:
		return zero, false, nil
	case 1:
		return found[0], true, nil
	}
	ids := make([]string, len(found))
	for i, it := range found {
		ids[i] = idOf(it)
	}
	return zero, false, &DuplicateError{Kind: kind, Name: name, IDs: ids}
}

// errNotFoundRef is a reference (a server's flavor, ...) naming nothing.
var errNotFoundRef = errors.New("not found")

// refError says which reference failed to resolve.
func refError(kind playbooks.Kind, name string, err error) error {
	return fmt.Errorf("%s %q: %w", kind, name, err)
}

// found is a finder's answer for a reference, which must name something:
// nothing found is errNotFoundRef.
func found[T any](v T, ok bool, err error) (T, error) {
	if err == nil && !ok {
		err = errNotFoundRef
	}
	return v, err
}

// wait polls check until it reports done, fails, or ctx ends; check runs
// at once first, then after each pollDelay, which never exceeds max.
func wait(ctx context.Context, max time.Duration, check func() (done bool, err error)) error {
	start := time.Now()
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		done, err := check()
		if err != nil || done {
			return err
		}
		t.Reset(pollDelay(time.Since(start), max))
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// pollDelay is the pause before the next poll, elapsed into a wait: 200 ms
// at first, since a lab's server turns ACTIVE and prints its console line
// within seconds and every poll period is latency added to the run, then
// growing by a tenth of a second every four seconds, so a guest that takes
// minutes is not asked about five times a second all along.
func pollDelay(elapsed, max time.Duration) time.Duration {
	return min(200*time.Millisecond+elapsed/40, max)
}
