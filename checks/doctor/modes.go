package doctor

import (
	"context"
	"regexp"
	"slices"
	"strings"

	"github.com/stacklab/stacklab/checks"
	"github.com/stacklab/stacklab/installer/identity"
)

// NeedsCredentials are the checks that log in to the cloud (keystone token,
// catalog, the APIs with a token, compute/agents/placement listings, a real
// dashboard login). Without admin credentials they are skipped, not failed.
var NeedsCredentials = []string{
	IDKeystoneAuth, IDCatalog, IDGlance, IDPlacement, IDNova, IDNeutron,
	IDComputeServices, IDCellMapping, IDPlacementInv, IDNetworkAgents, IDDashboardLogin, IDConsole,
}

// remote: doctor runs away from the cloud (--cloud NAME).
func (c Config) remote() bool { return !c.Lab && c.NotLabReason == "" }

// adapt fits every check's outcome to the kind of run: checks the setup
// cannot run become skips with their reason, and the fix text is phrased
// for who can act on it — a remote cloud's operator, or the admin of a lab
// stacklab did not build.
func (dr *doctor) adapt(list []checks.Check) []checks.Check {
	out := make([]checks.Check, len(list))
	for i, c := range list {
		run, why := c.Run, dr.cfg.Unavailable[c.ID]
		title := c.Title
		if why != "" {
			c.Early = nil
		}
		c.Run = func(ctx context.Context) checks.Result {
			if why != "" {
				return checks.Skipped(why)
			}
			r := run(ctx)
			switch {
			case r.Fix == "":
			case dr.cfg.remote():
				r.Fix = RemoteFix(title, r)
			case dr.cfg.HandMade:
				r.Fix = HandMadeFix(r.Fix)
			}
			return r
		}
		out[i] = c
	}
	return out
}

// localOnly are the marks of advice only someone on the lab host can follow.
var localOnly = []string{"systemctl", "journalctl", "/etc/", "/var/", "/usr/", "stacklab install", "stacklab doctor --fix",
	"stacklab services", "apache2ctl", "mysql", "rabbitmqctl", "nova-manage", "keystone-manage"}

// RemoteFix rephrases a fix for the operator of a cloud doctor only reaches
// over its APIs: nobody running doctor there can restart a unit or edit a
// file on the cloud's hosts. Advice the user can follow from here (their
// clouds.yaml, the openstack client) is kept.
func RemoteFix(title string, r checks.Result) string {
	if !containsAny(r.Fix, localOnly) {
		return r.Fix
	}
	return "on the cloud's side (ask its operator): " + r.Summary + " — the check was: " + title +
		"; they can see its service's state and logs on the cloud's hosts"
}

// HandMadeFix drops the advice that only applies to a lab stacklab built
// (its installer, its repairs, its secrets file) from a fix; the rest —
// commands and edits that hold on any Debian lab — stays.
func HandMadeFix(fix string) string {
	var keep []string
	for _, line := range strings.Split(fix, "\n") {
		var parts []string
		for _, p := range strings.Split(line, ";") {
			p = strings.TrimSpace(strings.ReplaceAll(p, "(or: stacklab doctor --fix)", ""))
			p = strings.ReplaceAll(p, "/etc/stacklab/secrets.yaml", "your admin-openrc")
			if p == "" || strings.Contains(p, "stacklab ") {
				continue
			}
			parts = append(parts, p)
		}
		if len(parts) > 0 {
			keep = append(keep, strings.Join(parts, "; "))
		}
	}
	if len(keep) == 0 {
		return "stacklab did not install this lab: follow your install guide's step for this service, and its logs (journalctl -u UNIT)"
	}
	return strings.Join(keep, "\n")
}

func containsAny(s string, subs []string) bool {
	for _, x := range subs {
		if strings.Contains(s, x) {
			return true
		}
	}
	return false
}

// isMgmt: host is the management address, as an address or a name for it.
func (c Config) isMgmt(host string) bool {
	return strings.EqualFold(host, c.MgmtIP) || slices.ContainsFunc(c.MgmtNames, func(n string) bool { return strings.EqualFold(n, host) })
}

// notMgmtNames drops the endpoints written with a name of the management
// address: the guides register http://controller:5000/v3, which is right.
func (c Config) notMgmtNames(mism []identity.Mismatch) []identity.Mismatch {
	return slices.DeleteFunc(mism, func(m identity.Mismatch) bool { return m.Host != "" && c.isMgmt(m.Host) })
}

var (
	openstackHostExprRE = regexp.MustCompile(`(?m)^OPENSTACK_HOST\s*=\s*['"]([^'"]+)['"]`)
	keystoneURLExprRE   = regexp.MustCompile(`(?m)^OPENSTACK_KEYSTONE_URL\s*=\s*['"]([^'"]+)['"](\s*%\s*OPENSTACK_HOST)?`)
)

// horizonKeystoneURL is the URL Horizon's settings give keystone, also in
// the form Debian and the install guide ship:
// "http://%s:5000/v3" % OPENSTACK_HOST.
func horizonKeystoneURL(settings []byte) (string, bool) {
	m := keystoneURLExprRE.FindSubmatch(settings)
	if m == nil {
		return "", false
	}
	u := string(m[1])
	if len(m[2]) == 0 {
		return u, true
	}
	h := openstackHostExprRE.FindSubmatch(settings)
	if h == nil {
		return "", false
	}
	return strings.Replace(u, "%s", string(h[1]), 1), true
}

// PlanHandMade lists the repairs doctor offers on a lab stacklab did not
// build: restarting the lab's failed units, in start order, and putting
// Horizon in the WSGI daemon process its own site declares (wf, when not
// nil) — an edit of two added lines, shown before it is asked for, with
// the file as it was kept next to it. Nothing else edits a file:
// stacklab's other file repairs render stacklab's own settings, which a
// hand-made lab does not share. Each is asked for on its own (see
// cmd/stacklab).
func PlanHandMade(rep checks.Report, cfg Config, restart func(ctx context.Context, unit string) error, wf HorizonWSGIRepairer) []Repair {
	var out []Repair
	for _, u := range cfg.Units {
		e, ok := rep.Get(UnitID(u))
		if !ok || e.Status != checks.Fail || strings.Contains(e.Summary, "not installed") || strings.Contains(e.Summary, "masked") {
			continue // a missing or masked unit is the admin's decision
		}
		out = append(out, Repair{For: UnitID(u), Description: "restart " + u + " (" + e.Summary + ")",
			Run: func(ctx context.Context) error { return restart(ctx, u) }})
	}
	// Only while apache2 runs: a failed apache2 was restarted above.
	if dashboardHung(rep) {
		out = append(out, Repair{For: IDDashboardPage, Description: "restart " + DashboardUnit + " (Horizon accepts connections but never answers)",
			Run: func(ctx context.Context) error { return restart(ctx, DashboardUnit) }})
	}
	if e, ok := rep.Get(IDHorizonWSGI); ok && wf != nil && e.Status == checks.Fail && strings.HasPrefix(e.Summary, horizonEmbedded+", not in") {
		out = append(out, Repair{For: IDHorizonWSGI,
			Description: "edit Horizon's Apache site (the old file kept as *" + HorizonBackupSuffix + "), then restart apache2:\n" + wsgiDiff(e.Fix),
			Run: func(ctx context.Context) error {
				changed, err := wf.DelegateHorizonWSGI(ctx)
				if err != nil || !changed {
					return err
				}
				return restart(ctx, "apache2")
			}})
	}
	return out
}

// wsgiDiff shows the lines the Horizon check's fix adds ("add after line
// N of FILE:" then the lines, indented) as a diff would.
func wsgiDiff(fix string) string {
	lines := strings.Split(fix, "\n")
	out := []string{"  " + strings.TrimSuffix(strings.TrimSpace(lines[0]), ":")}
	for _, l := range lines[1:] {
		// HandMadeFix trims the lines' indent: the added lines end where
		// the fix's next step ("then apache2ctl configtest") starts.
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "then ") {
			break
		}
		out = append(out, "  + "+l)
	}
	return strings.Join(out, "\n")
}
