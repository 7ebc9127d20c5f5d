package installer

import (
	"strings"

	"github.com/stacklab/stacklab/installer/inifile"
)

// editFlat applies sets to a section-less `key = value` file (libvirt's
// qemu.conf, whose parser rejects a "[DEFAULT]" header; installer/inifile
// has no section-less mode yet). Each key's first uncommented assignment is
// rewritten and later ones dropped; a key not assigned is appended.
// Comments and every other line are kept byte for byte.
func editFlat(content []byte, sets []inifile.Set) []byte {
	lines := strings.SplitAfter(string(content), "\n")
	if len(lines) > 0 && lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	for _, s := range sets {
		found := false
		out := lines[:0:0]
		for _, l := range lines {
			if flatKey(l) != s.Key {
				out = append(out, l)
				continue
			}
			if found || s.Delete {
				continue
			}
			found = true
			out = append(out, s.Key+" = "+s.Value+"\n")
		}
		if !found && !s.Delete {
			if n := len(out); n > 0 && !strings.HasSuffix(out[n-1], "\n") {
				out[n-1] += "\n"
			}
			out = append(out, s.Key+" = "+s.Value+"\n")
		}
		lines = out
	}
	return []byte(strings.Join(lines, ""))
}

// flatKey is the key a line assigns, "" for comments and other lines.
func flatKey(line string) string {
	t := strings.TrimSpace(line)
	if t == "" || t[0] == '#' {
		return ""
	}
	k, _, ok := strings.Cut(t, "=")
	if !ok {
		return ""
	}
	return strings.TrimSpace(k)
}
