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

// unifiedDiff renders the change from before to after as one hunk, as
// `diff -u` would, for the plan: the lines between the first and the last
// difference come from a longest-common-subsequence walk (the files are
// small), with two lines of context around.
func unifiedDiff(p, before, after string) string {
	a, b := splitLines(before), splitLines(after)
	// lcs[i][j] is the LCS length of a[i:] and b[j:].
	lcs := make([][]int, len(a)+1)
	for i := range lcs {
		lcs[i] = make([]int, len(b)+1)
	}
	for i := len(a) - 1; i >= 0; i-- {
		for j := len(b) - 1; j >= 0; j-- {
			if a[i] == b[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	type op struct {
		tag  byte
		line string
	}
	var ops []op
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		switch {
		case i < len(a) && j < len(b) && a[i] == b[j]:
			ops = append(ops, op{' ', a[i]})
			i, j = i+1, j+1
		case i < len(a) && (j == len(b) || lcs[i+1][j] >= lcs[i][j+1]):
			ops = append(ops, op{'-', a[i]})
			i++
		default:
			ops = append(ops, op{'+', b[j]})
			j++
		}
	}
	first, last := -1, -1
	for k, o := range ops {
		if o.tag != ' ' {
			if first < 0 {
				first = k
			}
			last = k
		}
	}
	if first < 0 {
		return ""
	}
	const context = 2
	lo, hi := max(first-context, 0), min(last+context+1, len(ops))
	startA, startB, nA, nB := 1, 1, 0, 0
	for _, o := range ops[:lo] {
		if o.tag != '+' {
			startA++
		}
		if o.tag != '-' {
			startB++
		}
	}
	var body strings.Builder
	for _, o := range ops[lo:hi] {
		if o.tag != '+' {
			nA++
		}
		if o.tag != '-' {
			nB++
		}
		body.WriteString(string(o.tag) + o.line + "\n")
	}
	return fmt.Sprintf("--- %s\n+++ %s (stacklab)\n@@ -%d,%d +%d,%d @@\n", p, p, startA, nA, startB, nB) + body.String()
}

func splitLines(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(strings.TrimSuffix(s, "\n"), "\n")
}
