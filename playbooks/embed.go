package playbooks

import (
	_ "embed"
)

//go:embed lab.yaml
var defaultPlaybook string // a string: the embedded bytes cannot be changed

// Default returns the default lab playbook shipped in the binary (the
// same bytes as playbooks/lab.yaml), for writing out or loading.
func Default() []byte {
	return []byte(defaultPlaybook)
}

// LoadDefault loads the embedded default playbook.
func LoadDefault() (*Playbook, error) {
	return LoadBytes("lab.yaml", Default())
}
