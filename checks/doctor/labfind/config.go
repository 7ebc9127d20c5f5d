package labfind

import (
	"cmp"
	"context"
	"slices"
	"strings"

	"github.com/stacklab/stacklab/checks"
	"github.com/stacklab/stacklab/checks/doctor"
	"github.com/stacklab/stacklab/internal/cloud"
)

// Host is what the caller reads from the running host for a hand-made lab.
type Host struct {
	Hostname string
	// RouteIP is the management NIC's address (the default route's): used
	// when the configuration names none.
	RouteIP string
	// Root: doctor runs as root (MariaDB's root login is over its unix
	// socket, unit states and journals need it).
	Root bool
	// Creds are the admin credentials found, nil with CredsWhy saying why
	// none were.
	Creds    *cloud.CloudEntry
	CredsWhy string
}

// CredsHint is what lets doctor log in to a hand-made lab.
const CredsHint = "`. admin-openrc` and run `sudo -E stacklab doctor`, or pass --openrc FILE or --os-cloud NAME"

// Config is doctor's view of a lab stacklab did not build: every check it
// can run runs, and each one it cannot is a skip naming why and what would
// let it run.
func Config(l Lab, h Host) doctor.Config {
	cfg := doctor.Config{
		Lab: true, HandMade: true,
		Hostname:    h.Hostname,
		MgmtIP:      cmp.Or(l.MgmtIP, h.RouteIP),
		MgmtNames:   l.MgmtNames,
		Units:       l.Units,
		KeystoneURL: l.KeystoneURL,
		VirtType:    l.VirtType,
		ConsoleURL:  l.ConsoleURL,
		DiskPaths:   doctor.DefaultDiskPaths,
		Unavailable: map[string]string{},
	}
	cfg.Found = append(cfg.Found, l.Sources...)
	if len(l.Sites) > 0 {
		cfg.Found = append(cfg.Found, "enabled Apache sites: "+strings.Join(l.Sites, " "))
	}
	for _, m := range l.Missing {
		cfg.Found = append(cfg.Found, "not found: "+m)
	}
	if l.MgmtIP == "" && h.RouteIP != "" {
		cfg.Found = append(cfg.Found, "management address "+h.RouteIP+" from the management NIC (the configuration names none)")
	}
	skip := func(why string, ids ...string) {
		for _, id := range ids {
			if _, done := cfg.Unavailable[id]; !done {
				cfg.Unavailable[id] = why
			}
		}
	}
	if cfg.KeystoneURL == "" && h.Creds != nil {
		cfg.KeystoneURL = h.Creds.AuthURL
	}
	if cfg.MgmtIP != "" {
		cfg.HorizonURL = "http://" + hostForURL(cfg.MgmtIP) + l.HorizonWebRoot
	}
	if h.Creds != nil {
		cfg.AdminUser, cfg.AdminPassword, cfg.AdminDomain = h.Creds.Username, h.Creds.Password, h.Creds.UserDomainName
		cfg.Region = h.Creds.RegionName
	}
	cfg.Region = cmp.Or(cfg.Region, l.Region)
	if l.Rabbit != nil {
		cfg.RabbitUser, cfg.RabbitPassword, cfg.RabbitAddr = l.Rabbit.User, l.Rabbit.Password, l.Rabbit.Addr
	}

	if !h.Root {
		skip("not root: MariaDB's root login is over its unix socket; run with sudo -E",
			doctor.IDMariaDB, doctor.IDMariaDBConnections, doctor.IDCellMapping)
	}
	if h.Creds == nil {
		why := "no admin credentials"
		if h.CredsWhy != "" {
			why += " (" + h.CredsWhy + ")"
		}
		skip(why+": "+CredsHint, doctor.NeedsCredentials...)
	}
	if cfg.KeystoneURL == "" {
		skip("no keystone URL: neither Horizon's OPENSTACK_KEYSTONE_URL, a service's [keystone_authtoken] nor OS_AUTH_URL names it",
			doctor.IDKeystone, doctor.IDDashboardKeystone)
	}
	if l.Rabbit == nil {
		skip("no RabbitMQ password: "+NovaConf+"'s [DEFAULT] transport_url (rabbit://USER:PASSWORD@HOST:5672/) would give it",
			doctor.IDRabbitMQ)
	}
	if cfg.MgmtIP == "" {
		skip("no management address: not in the configuration, and no default route", doctor.IDDashboardPage, doctor.IDDashboardStatic)
	}
	// stacklab records the address it installed with; a hand-made lab
	// has no such record, so "has it changed?" cannot be answered.
	skip("stacklab did not install this lab: no record of the address it was installed with (doctor probes "+
		cmp.Or(cfg.MgmtIP, "none")+")", doctor.IDMgmtAddress)
	return cfg
}

func hostForURL(ip string) string {
	if strings.Contains(ip, ":") {
		return "[" + ip + "]"
	}
	return ip
}

// Secrets lists every secret of a hand-made lab: those in its files and
// the admin password, longest first so a secret containing another wins.
func Secrets(l Lab, creds *cloud.CloudEntry) []string {
	out := slices.Clone(l.Secrets)
	if creds != nil && creds.Password.Reveal() != "" {
		out = append(out, creds.Password.Reveal())
	}
	slices.SortFunc(out, func(a, b string) int { return cmp.Or(len(b)-len(a), strings.Compare(a, b)) })
	return slices.Compact(out)
}

// Redactor hides every secret in text.
func Redactor(secrets []string) func(string) string {
	pairs := make([]string, 0, 2*len(secrets))
	for _, s := range secrets {
		if s != "" {
			pairs = append(pairs, s, "[redacted]")
		}
	}
	r := strings.NewReplacer(pairs...)
	return r.Replace
}

// RedactChecks hides secrets in every result of list: checks quote
// journals, command output and errors, any of which may carry a password
// from a hand-made lab's files.
func RedactChecks(list []checks.Check, redact func(string) string) []checks.Check {
	out := make([]checks.Check, len(list))
	for i, c := range list {
		run := c.Run
		c.Run = func(ctx context.Context) checks.Result {
			r := run(ctx)
			r.Summary, r.Fix = redact(r.Summary), redact(r.Fix)
			ev := make([]string, len(r.Evidence))
			for j, e := range r.Evidence {
				ev[j] = redact(e)
			}
			r.Evidence = ev
			return r
		}
		out[i] = c
	}
	return out
}
