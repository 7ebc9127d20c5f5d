// Package playbookstest is an in-memory cloud for testing playbooks and
// the commands built on them: it keeps resources by kind and name and
// records every call, so a test can assert what was (not) changed.
package playbookstest

import (
	"context"
	"fmt"
	"sync"

	"github.com/stacklab/stacklab/playbooks"
)

// Call is one driver call the cloud received.
type Call struct {
	Op   string // get, create, update, delete
	Kind playbooks.Kind
	Name string
}

func (c Call) String() string { return fmt.Sprintf("%s %s %s", c.Op, c.Kind, c.Name) }

// Cloud is a playbooks.Cloud held in memory. The zero value is not
// usable; call New.
type Cloud struct {
	// BeforeWrite, when set, runs before every create, update and delete,
	// without the cloud's lock held; a test uses it as a barrier or to
	// make a write fail.
	BeforeWrite func(ctx context.Context, c Call) error

	mu      sync.Mutex
	objects map[playbooks.Kind]map[string]playbooks.Current
	calls   []Call
	nextID  int
}

// New returns an empty cloud.
func New() *Cloud {
	return &Cloud{objects: map[playbooks.Kind]map[string]playbooks.Current{}}
}

// Put adds a resource as if someone made it: owner "" is by hand. spec is
// of the declaration's type (playbooks.Network for a network, ...).
func (c *Cloud) Put(kind playbooks.Kind, name, owner string, spec any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.put(kind, name, playbooks.Current{Owner: owner, Spec: spec})
}

func (c *Cloud) put(kind playbooks.Kind, name string, cur playbooks.Current) {
	if c.objects[kind] == nil {
		c.objects[kind] = map[string]playbooks.Current{}
	}
	if cur.ID == "" {
		c.nextID++
		cur.ID = fmt.Sprintf("%s-%d", kind, c.nextID)
	}
	c.objects[kind][name] = cur
}

// Has reports whether the cloud holds kind name.
func (c *Cloud) Has(kind playbooks.Kind, name string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.objects[kind][name]
	return ok
}

// Calls returns every call so far, in order.
func (c *Cloud) Calls() []Call {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Call(nil), c.calls...)
}

// Writes returns the calls that would change a real cloud.
func (c *Cloud) Writes() []Call {
	var out []Call
	for _, call := range c.Calls() {
		if call.Op != "get" {
			out = append(out, call)
		}
	}
	return out
}

// Driver returns the driver of kind.
func (c *Cloud) Driver(kind playbooks.Kind) (playbooks.Driver, error) {
	return &driver{c: c, kind: kind}, nil
}

type driver struct {
	c    *Cloud
	kind playbooks.Kind
}

func (d *driver) record(op, name string) {
	d.c.mu.Lock()
	defer d.c.mu.Unlock()
	d.c.calls = append(d.c.calls, Call{Op: op, Kind: d.kind, Name: name})
}

func (d *driver) write(ctx context.Context, op, name string, change func()) error {
	call := Call{Op: op, Kind: d.kind, Name: name}
	if d.c.BeforeWrite != nil {
		if err := d.c.BeforeWrite(ctx, call); err != nil {
			return err
		}
	}
	d.c.mu.Lock()
	defer d.c.mu.Unlock()
	d.c.calls = append(d.c.calls, call)
	change()
	return nil
}

func (d *driver) Get(_ context.Context, name string) (playbooks.Current, bool, error) {
	d.record("get", name)
	d.c.mu.Lock()
	defer d.c.mu.Unlock()
	cur, ok := d.c.objects[d.kind][name]
	return cur, ok, nil
}

func (d *driver) Create(ctx context.Context, r playbooks.Resource, owner string) error {
	return d.write(ctx, "create", r.Name, func() {
		cur := playbooks.Current{Owner: owner, Spec: r.Spec}
		if d.kind == playbooks.KindFloatingIP {
			// What a user reads off the report to reach the server.
			cur.Info = map[string]string{"address": fmt.Sprintf("203.0.113.%d", 100+d.c.nextID)}
		}
		d.c.put(d.kind, r.Name, cur)
	})
}

func (d *driver) Update(ctx context.Context, r playbooks.Resource, cur playbooks.Current, _ []playbooks.FieldChange) error {
	return d.write(ctx, "update", r.Name, func() {
		cur.Spec = r.Spec
		d.c.put(d.kind, r.Name, cur)
	})
}

func (d *driver) Delete(ctx context.Context, cur playbooks.Current) error {
	return d.write(ctx, "delete", nameOf(cur), func() {
		for name, obj := range d.c.objects[d.kind] {
			if obj.ID == cur.ID {
				delete(d.c.objects[d.kind], name)
			}
		}
	})
}

// nameOf finds the declared name inside a spec, for the call record.
func nameOf(cur playbooks.Current) string {
	switch s := cur.Spec.(type) {
	case playbooks.Flavor:
		return s.Name
	case playbooks.Network:
		return s.Name
	case playbooks.Subnet:
		return s.Name
	case playbooks.Router:
		return s.Name
	case playbooks.SecurityGroup:
		return s.Name
	case playbooks.Keypair:
		return s.Name
	case playbooks.Image:
		return s.Name
	case playbooks.Server:
		return s.Name
	case playbooks.FloatingIP:
		return s.Name
	}
	return cur.ID
}

func (d *driver) Diff(r playbooks.Resource, cur playbooks.Current) []playbooks.FieldChange {
	return playbooks.DiffFields(playbooks.Fields(r.Spec), playbooks.Fields(cur.Spec))
}
