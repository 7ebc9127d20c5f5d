package netcfg

import (
	"fmt"
	"path"
	"strings"
)

// BackupSuffix marks the copy stacklab keeps of a user's file before its
// first edit.
const BackupSuffix = ".stacklab-bak"

// stanzaStart reports whether line opens a new stanza; any other
// non-comment line after an iface line is one of that stanza's options.
func stanzaStart(line string) bool {
	f := strings.Fields(line)
	if len(f) == 0 || strings.HasPrefix(f[0], "#") {
		return false
	}
	if strings.HasPrefix(f[0], "allow-") {
		return true
	}
	switch f[0] {
	case "iface", "mapping", "auto", "source", "source-directory", "rename":
		return true
	}
	return false
}

// addressMethod reports whether an ifupdown method gives the interface an
// address of its own.
func addressMethod(m string) bool {
	switch m {
	case "dhcp", "static", "auto", "bootp", "ppp", "v4tunnel", "6to4":
		return true
	}
	return false
}

// ifupdownEdit rewrites every stanza of f that gives ext an address into
// `iface EXT FAMILY manual` plus a line that still brings the link up; the
// old stanza's options (address, netmask, gateway, ...) go with it, its
// comments and the auto/allow-hotplug lines stay. ok is false when there
// is nothing to change.
func ifupdownEdit(content, ext string) (edited string, ok bool) {
	in := strings.SplitAfter(content, "\n")
	if in[len(in)-1] == "" {
		in = in[:len(in)-1]
	}
	out := make([]string, 0, len(in))
	inStanza := false
	for _, raw := range in {
		line := strings.TrimRight(raw, "\r\n")
		f := strings.Fields(line)
		if stanzaStart(line) {
			inStanza = false
			if len(f) >= 4 && f[0] == "iface" && f[1] == ext && addressMethod(f[3]) {
				indent := line[:len(line)-len(strings.TrimLeft(line, " \t"))]
				out = append(out,
					fmt.Sprintf("%siface %s %s manual\n", indent, ext, f[2]),
					indent+"    up ip link set dev $IFACE up\n")
				inStanza, ok = true, true
				continue
			}
		}
		if inStanza && len(f) > 0 && !strings.HasPrefix(f[0], "#") {
			continue
		}
		out = append(out, raw)
	}
	if !ok {
		return content, false
	}
	s := strings.Join(out, "")
	if content != "" && !strings.HasSuffix(content, "\n") {
		s = strings.TrimSuffix(s, "\n")
	}
	return s, true
}

// ifupdownStanzas lists the files among the user's ifupdown files that
// define an iface stanza for ext, whatever its method.
func ifupdownStanzas(hc HostConfig, ext string) []ConfigFile {
	var out []ConfigFile
	for _, f := range hc.Files {
		if f.Path != ifupdownMain && path.Dir(f.Path) != ifupdownDir {
			continue
		}
		for _, line := range lines(f.Content) {
			if fl := strings.Fields(line); len(fl) >= 2 && fl[0] == "iface" && fl[1] == ext {
				out = append(out, f)
				break
			}
		}
	}
	return out
}

// ifupdownAsksAddress reports whether a user's stanza gives ext an address.
func ifupdownAsksAddress(hc HostConfig, ext string) bool {
	for _, f := range ifupdownStanzas(hc, ext) {
		if _, ok := ifupdownEdit(f.Content, ext); ok {
			return true
		}
	}
	return false
}

// backupPath is where the original of p is kept. Next to the file, except
// in a directory ifupdown sources with a glob (Debian's own interfaces
// says `source /etc/network/interfaces.d/*`): a backup there would be
// read at boot and bring the old stanza back, so it goes beside the
// directory instead.
func backupPath(p string) string {
	if path.Dir(p) == ifupdownDir {
		return path.Join(path.Dir(ifupdownDir), "interfaces.d-"+path.Base(p)+BackupSuffix)
	}
	return p + BackupSuffix
}

// unifiedDiff renders the change from before to after as one hunk around
// the lines that differ, as `diff -u` would, for the plan.
func unifiedDiff(p, before, after string) string {
	a, b := splitLines(before), splitLines(after)
	pre := 0
	for pre < len(a) && pre < len(b) && a[pre] == b[pre] {
		pre++
	}
	suf := 0
	for suf < len(a)-pre && suf < len(b)-pre && a[len(a)-1-suf] == b[len(b)-1-suf] {
		suf++
	}
	const ctx = 2
	lo := max(pre-ctx, 0)
	hiA, hiB := min(len(a)-suf+ctx, len(a)), min(len(b)-suf+ctx, len(b))
	var s strings.Builder
	fmt.Fprintf(&s, "--- %s\n+++ %s (stacklab)\n@@ -%d,%d +%d,%d @@\n", p, p, lo+1, hiA-lo, lo+1, hiB-lo)
	for _, l := range a[lo:pre] {
		s.WriteString(" " + l + "\n")
	}
	for _, l := range a[pre : len(a)-suf] {
		s.WriteString("-" + l + "\n")
	}
	for _, l := range b[pre : len(b)-suf] {
		s.WriteString("+" + l + "\n")
	}
	for _, l := range a[len(a)-suf : hiA] {
		s.WriteString(" " + l + "\n")
	}
	return s.String()
}

func splitLines(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(strings.TrimSuffix(s, "\n"), "\n")
}
