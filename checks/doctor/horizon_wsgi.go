package doctor

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/stacklab/stacklab/checks"
)

// IDHorizonWSGI is the check that Horizon runs in its WSGI daemon process.
const IDHorizonWSGI = "dashboard-wsgi-daemon"

// horizonEmbedded starts the summary of the failure doctor --fix repairs
// (Plan matches it): a daemon is declared next to the alias, only the
// WSGIProcessGroup that would use it is missing.
const horizonEmbedded = "Horizon runs embedded in every Apache worker"

// apacheDirective is one directive of an Apache configuration file, with
// where it is and what encloses it.
type apacheDirective struct {
	File string
	Line int // 1-based line of the directive's first physical line
	Last int // 1-based line of its last physical line (continuations)
	// Name is lower case (Apache's directives are case-insensitive);
	// Spelled is as written, for evidence.
	Name, Spelled string
	Args          []string
	// Depth is the number of enclosing sections (<VirtualHost>, <IfModule>…);
	// 0 is server level.
	Depth int
}

func (d apacheDirective) String() string {
	return fmt.Sprintf("%s:%d: %s %s", d.File, d.Line, d.Spelled, strings.Join(d.Args, " "))
}

// apacheIncludeRE reads `apache2ctl -t -D DUMP_INCLUDES`: "  (*) FILE" for
// the main file and "    (LINE) FILE" for each file it includes.
var apacheIncludeRE = regexp.MustCompile(`^\s*\([*0-9]+\)\s+(/\S+)\s*$`)

// ApacheIncludes lists the configuration files Apache itself reads, in
// order, from DUMP_INCLUDES output: Apache expands its Include globs and
// IncludeOptional, so sites-enabled and conf-enabled are followed exactly
// as Apache follows them.
func ApacheIncludes(dump string) []string {
	var out []string
	for _, l := range strings.Split(dump, "\n") {
		if m := apacheIncludeRE.FindStringSubmatch(l); m != nil {
			out = append(out, m[1])
		}
	}
	return out
}

// ParseApache splits an Apache configuration file into directives: comments
// and blank lines dropped, "\" continuations joined, section tags counted
// for depth. Quotes group arguments as Apache's tokenizer does.
func ParseApache(file string, data []byte) []apacheDirective {
	var out []apacheDirective
	lines := strings.Split(string(data), "\n")
	depth := 0
	for i := 0; i < len(lines); i++ {
		start := i
		text := strings.TrimRight(lines[i], " \t\r")
		for strings.HasSuffix(text, `\`) && i+1 < len(lines) {
			i++
			text = strings.TrimSuffix(text, `\`) + " " + strings.TrimSpace(strings.TrimRight(lines[i], "\r"))
		}
		text = strings.TrimSpace(text)
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		if strings.HasPrefix(text, "</") {
			if depth > 0 {
				depth--
			}
			continue
		}
		if strings.HasPrefix(text, "<") {
			depth++
			continue
		}
		f := apacheFields(text)
		out = append(out, apacheDirective{File: file, Line: start + 1, Last: i + 1, Name: strings.ToLower(f[0]), Spelled: f[0], Args: f[1:], Depth: depth})
	}
	return out
}

func apacheFields(s string) []string {
	var out []string
	var cur strings.Builder
	var quote rune
	inField := false
	for _, r := range s {
		switch {
		case quote != 0 && r == quote:
			quote = 0
		case quote != 0:
			cur.WriteRune(r)
		case r == '"' || r == '\'':
			quote, inField = r, true
		case r == ' ' || r == '\t':
			if inField {
				out = append(out, cur.String())
				cur.Reset()
				inField = false
			}
		default:
			cur.WriteRune(r)
			inField = true
		}
	}
	if inField {
		out = append(out, cur.String())
	}
	return out
}

// isHorizonAlias tells Horizon's WSGIScriptAlias from any other WSGI
// application's by its script (Debian: /usr/share/openstack-dashboard/wsgi.py).
func isHorizonAlias(d apacheDirective) bool {
	if d.Name != "wsgiscriptalias" || len(d.Args) < 2 {
		return false
	}
	return strings.Contains(d.Args[1], "openstack-dashboard") || strings.Contains(d.Args[1], "horizon")
}

// wsgiPlan is how a configuration where Horizon runs embedded is repaired:
// the two lines go after the daemon's declaration, in the alias's file.
type wsgiPlan struct {
	File  string // as Apache includes it (may be a sites-enabled link)
	After int    // 1-based line after which the lines go
	Group string
	// HasAppGroup: the file already says WSGIApplicationGroup (whatever
	// its value, it is kept and not repeated).
	HasAppGroup bool
}

func (p wsgiPlan) lines() []string {
	if p.HasAppGroup {
		return []string{"WSGIProcessGroup " + p.Group}
	}
	return []string{"WSGIProcessGroup " + p.Group, "WSGIApplicationGroup %{GLOBAL}"}
}

// HorizonWSGIVerdict reads the enabled Apache configuration (directives
// of every included file, in order) for Horizon's WSGIScriptAlias and the
// process group it runs in. Debian 12's alias-only site declares
// WSGIDaemonProcess horizon but never WSGIProcessGroup, so Horizon runs
// embedded in every Apache worker, and measured, about 1 login in 6 then
// bounces back to the login form. A WSGIProcessGroup counts for the alias
// when it is in the alias's file or at server level; process-group= on
// the alias itself counts too. The plan is set when --fix can repair it.
func HorizonWSGIVerdict(dirs []apacheDirective) (checks.Result, *wsgiPlan) {
	daemons := map[string]apacheDirective{}
	var aliases []apacheDirective
	for _, d := range dirs {
		switch {
		case d.Name == "wsgidaemonprocess" && len(d.Args) > 0:
			daemons[d.Args[0]] = d
		case isHorizonAlias(d):
			aliases = append(aliases, d)
		}
	}
	if len(aliases) == 0 {
		return checks.Skipped("no WSGIScriptAlias for Horizon in Apache's enabled configuration (the dashboard-page check reports a missing dashboard)"), nil
	}
	alias := aliases[0]
	ev := []string{"alias: " + alias.String()}
	group, from := "", apacheDirective{}
	for _, a := range alias.Args[2:] {
		if v, ok := strings.CutPrefix(a, "process-group="); ok {
			group, from = v, alias
		}
	}
	if group == "" {
		for _, d := range dirs {
			if d.Name == "wsgiprocessgroup" && len(d.Args) > 0 && (d.File == alias.File || d.Depth == 0) {
				group, from = d.Args[0], d
			}
		}
	}
	if group != "" && group != "%{GLOBAL}" {
		ev = append(ev, "process group: "+from.String())
		if d, ok := daemons[group]; ok {
			return checks.Pass("Horizon runs in its WSGI daemon process "+group, append(ev, "daemon: "+d.String())...), nil
		}
		return checks.Failf("Horizon's WSGIProcessGroup "+group+" names no WSGIDaemonProcess: every dashboard request fails",
			fmt.Sprintf("declare it in %s: WSGIDaemonProcess %s user=www-data group=www-data; then apache2ctl configtest && systemctl reload apache2", alias.File, group),
			ev...), nil
	}
	missing := "no WSGIProcessGroup"
	if group == "%{GLOBAL}" {
		ev = append(ev, "process group: "+from.String()+" (the Apache worker itself)")
		missing = "WSGIProcessGroup %{GLOBAL} at " + fmt.Sprintf("%s:%d", from.File, from.Line)
	} else {
		ev = append(ev, "no WSGIProcessGroup in "+alias.File+" or at server level")
	}
	why := ": logins are lost intermittently, about 1 in 6 bouncing back to the login form"
	// The repairable case is Debian's: no process group at all, and a
	// daemon declared next to the alias. An explicit %{GLOBAL} is
	// someone's choice, and a line added before it would not win: that
	// one gets the fix text only.
	if d, ok := daemonIn(daemons, alias.File); ok && group == "" {
		p := &wsgiPlan{File: alias.File, After: d.Last, Group: d.Args[0],
			HasAppGroup: slices.ContainsFunc(dirs, func(x apacheDirective) bool { return x.Name == "wsgiapplicationgroup" && x.File == alias.File })}
		ev = append(ev, "daemon: "+d.String()+" (declared, never used)")
		fix := fmt.Sprintf("add after line %d of %s:\n  %s\nthen apache2ctl configtest && systemctl reload apache2   (or: stacklab doctor --fix)",
			p.After, p.File, strings.Join(p.lines(), "\n  "))
		return checks.Failf(horizonEmbedded+", not in its WSGI daemon process "+p.Group+" ("+missing+")"+why, fix, ev...), p
	}
	if group != "" {
		return checks.Failf(horizonEmbedded+" ("+missing+")"+why,
			fmt.Sprintf("replace WSGIProcessGroup %%{GLOBAL} at %s:%d with the name of a WSGIDaemonProcess (Debian's: horizon), keep WSGIApplicationGroup %%{GLOBAL}; then apache2ctl configtest && systemctl reload apache2", from.File, from.Line),
			ev...), nil
	}
	if len(daemons) > 0 {
		name := slices.Sorted(maps.Keys(daemons))[0]
		return checks.Failf(horizonEmbedded+" ("+missing+")"+why,
			fmt.Sprintf("add to %s:\n  WSGIProcessGroup %s\n  WSGIApplicationGroup %%{GLOBAL}\nthen apache2ctl configtest && systemctl reload apache2", alias.File, name),
			append(ev, "daemon: "+daemons[name].String())...), nil
	}
	return checks.Failf(horizonEmbedded+" (no WSGIDaemonProcess for it)"+why,
		fmt.Sprintf("add to %s:\n  WSGIDaemonProcess horizon user=www-data group=www-data\n  WSGIProcessGroup horizon\n  WSGIApplicationGroup %%{GLOBAL}\nthen apache2ctl configtest && systemctl reload apache2", alias.File),
		ev...), nil
}

// daemonIn picks the daemon declared in file: Debian's "horizon" when
// there, else the first by name, so that the verdict does not depend on
// map order.
func daemonIn(daemons map[string]apacheDirective, file string) (apacheDirective, bool) {
	if d, ok := daemons["horizon"]; ok && d.File == file {
		return d, true
	}
	for _, name := range slices.Sorted(maps.Keys(daemons)) {
		if daemons[name].File == file {
			return daemons[name], true
		}
	}
	return apacheDirective{}, false
}

// ErrNoApacheFiles: apache2ctl listed no configuration file.
var ErrNoApacheFiles = errors.New("apache2ctl -t -D DUMP_INCLUDES listed no configuration file")

// apacheDumpArgs parse Apache's whole configuration as configtest does
// (failing with the same "Syntax error on line N of FILE") and list the
// files read: one Apache start serves the syntax check and the WSGI check.
var apacheDumpArgs = []string{"-t", "-D", "DUMP_INCLUDES"}

// apacheDirectives reads every file of the enabled Apache configuration.
func apacheDirectives(ctx context.Context, h Host) ([]apacheDirective, error) {
	out, err := h.Run(ctx, "apache2ctl", apacheDumpArgs...)
	return readApacheDirectives(h, out, err)
}

// readApacheDirectives reads the files apache2ctl's include dump (out,
// err) lists.
func readApacheDirectives(h Host, out []byte, err error) ([]apacheDirective, error) {
	if err != nil {
		return nil, fmt.Errorf("list Apache's configuration files: %w (%s)", err, firstLines(strings.TrimSpace(string(out)), 2))
	}
	files := ApacheIncludes(string(out))
	if len(files) == 0 {
		return nil, ErrNoApacheFiles
	}
	var dirs []apacheDirective
	for _, f := range files {
		b, err := h.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("read Apache's configuration: %w", err)
		}
		dirs = append(dirs, ParseApache(f, b)...)
	}
	return dirs, nil
}

func (dr *doctor) checkHorizonWSGI(ctx context.Context) checks.Result {
	if r, ok := dr.notDashboard(); ok {
		return r
	}
	out, err := dr.apacheDump(ctx)
	dirs, err := readApacheDirectives(dr.d.Host, out, err)
	if errors.Is(err, ErrNoApacheFiles) {
		return checks.Skipped("cannot tell how Horizon runs: " + err.Error())
	}
	if err != nil {
		return checks.Warnf("cannot read Apache's configuration", "apache2ctl -t -D DUMP_INCLUDES", err.Error())
	}
	r, _ := HorizonWSGIVerdict(dirs)
	dr.horizonDaemon.Store(r.Status == checks.OK)
	return r
}

// AddWSGIProcessGroup inserts the plan's lines after line p.After of conf,
// indented like that line.
func AddWSGIProcessGroup(conf []byte, p wsgiPlan) ([]byte, error) {
	lines := strings.SplitAfter(string(conf), "\n")
	if p.After < 1 || p.After > len(lines) {
		return nil, fmt.Errorf("line %d is not in the file (%d lines)", p.After, len(lines))
	}
	first := lines[p.After-1]
	for i := p.After - 1; i > 0 && strings.HasSuffix(strings.TrimRight(lines[i-1], "\r\n"), `\`); i-- {
		first = lines[i-1] // the declaration's first physical line sets the indent
	}
	indent := first[:len(first)-len(strings.TrimLeft(first, " \t"))]
	eol := "\n"
	if strings.HasSuffix(lines[p.After-1], "\r\n") {
		eol = "\r\n"
	}
	if !strings.HasSuffix(lines[p.After-1], "\n") {
		lines[p.After-1] += eol
	}
	add := make([]string, 0, 2)
	for _, l := range p.lines() {
		add = append(add, indent+l+eol)
	}
	out := append(append(append([]string{}, lines[:p.After]...), add...), lines[p.After:]...)
	return []byte(strings.Join(out, "")), nil
}

// HorizonWSGIRepairer is a Repairer that can put Horizon in its WSGI daemon
// process; optional, as KeystoneURLRepairer is.
type HorizonWSGIRepairer interface {
	// DelegateHorizonWSGI adds WSGIProcessGroup/WSGIApplicationGroup after
	// the WSGIDaemonProcess that Horizon's site declares, keeping the old
	// file next to it (HorizonBackupSuffix); it reports whether it changed.
	DelegateHorizonWSGI(ctx context.Context) (bool, error)
}

func (h HostRepairer) DelegateHorizonWSGI(ctx context.Context) (bool, error) {
	return delegateHorizonWSGI(ctx, h.Host, h.Host.Root)
}

// delegateHorizonWSGI reads the configuration through h and edits the
// file under root. A sites-enabled link is followed so the edit lands in
// the file a2ensite linked (the link stays a link).
func delegateHorizonWSGI(ctx context.Context, h Host, root string) (bool, error) {
	dirs, err := apacheDirectives(ctx, h)
	if err != nil {
		return false, err
	}
	r, p := HorizonWSGIVerdict(dirs)
	if p == nil {
		if r.Status == checks.Fail {
			return false, fmt.Errorf("no safe edit: %s", r.Summary)
		}
		return false, nil
	}
	file, err := filepath.EvalSymlinks(filepath.Join(root, p.File))
	if err != nil {
		return false, fmt.Errorf("resolve %s: %w", p.File, err)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return false, fmt.Errorf("read Horizon's Apache site: %w", err)
	}
	out, err := AddWSGIProcessGroup(b, *p)
	if err != nil {
		return false, fmt.Errorf("%s: %w", file, err)
	}
	if err := writeLike(file+HorizonBackupSuffix, file, b); err != nil {
		return false, fmt.Errorf("back up Horizon's Apache site: %w", err)
	}
	if err := writeKeepMode(file, out); err != nil {
		return false, fmt.Errorf("rewrite Horizon's Apache site: %w", err)
	}
	return true, nil
}

// planHorizonWSGI is doctor --fix's repair for an embedded Horizon.
func planHorizonWSGI(rep checks.Report, f Repairer) []Repair {
	wf, ok := f.(HorizonWSGIRepairer)
	e, found := rep.Get(IDHorizonWSGI)
	if !ok || !found || e.Status != checks.Fail || !strings.HasPrefix(e.Summary, horizonEmbedded+", not in") {
		return nil
	}
	return []Repair{{For: IDHorizonWSGI,
		Description: "add WSGIProcessGroup (and WSGIApplicationGroup %{GLOBAL} where missing) to Horizon's Apache site (the old file kept as *" +
			HorizonBackupSuffix + ") and restart apache2",
		Run: func(ctx context.Context) error {
			changed, err := wf.DelegateHorizonWSGI(ctx)
			if err != nil || !changed {
				return err
			}
			return f.Restart(ctx, "apache2")
		}}}
}
