package labfind

import "github.com/stacklab/stacklab/installer/inifile"

// INI is an oslo.config file as the installer's own parser reads it, so
// discovery and the installer agree on what a file says. A nil INI (file
// absent) is empty.
type INI struct{ f *inifile.File }

// ParseINI reads an oslo.config file.
func ParseINI(b []byte) INI { return INI{f: inifile.Parse(b)} }

// Get is the value oslo.config would use, "" when absent.
func (c INI) Get(section, key string) string {
	if c.f == nil {
		return ""
	}
	v, _ := c.f.Get(section, key)
	return v
}
