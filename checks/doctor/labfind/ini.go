package labfind

import (
	"bufio"
	"bytes"
	"strings"
)

// INI is an oslo.config file: section → key → value. Keys repeated later
// win, as oslo.config reads them.
type INI map[string]map[string]string

// ParseINI reads an oslo.config/ini file; comments (# and ;) and lines it
// does not understand are ignored rather than guessed at.
func ParseINI(b []byte) INI {
	out := INI{}
	sec := "DEFAULT"
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "", strings.HasPrefix(line, "#"), strings.HasPrefix(line, ";"):
			continue
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			sec = strings.TrimSpace(line[1 : len(line)-1])
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		if out[sec] == nil {
			out[sec] = map[string]string{}
		}
		out[sec][strings.TrimSpace(k)] = strings.TrimSpace(v)
	}
	return out
}

// Get is the value of key in section, "" when absent (a nil INI is empty).
func (c INI) Get(section, key string) string { return c[section][key] }
