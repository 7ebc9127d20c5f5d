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

// DefaultName is how messages name the embedded playbook.
const DefaultName = "lab.yaml"

// LoadDefault loads the embedded default playbook; its relative paths
// (the generated private key) resolve against dir, since the built-in
// playbook has no directory of its own.
func LoadDefault(dir string) (*Playbook, error) {
	return loadBytes(DefaultName, dir, Default())
}
