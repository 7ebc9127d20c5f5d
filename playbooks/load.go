package playbooks

import (
	"errors"
	"fmt"
	"path/filepath"
	"reflect"

	"github.com/stacklab/stacklab/internal/safefile"
	"github.com/stacklab/stacklab/internal/yamlguard"
)

// MaxBytes bounds a playbook file: a hand-written one is a few KB, and a
// wrong path (a log, an image) should be refused, not read into memory.
const MaxBytes = 1 << 20

// MaxKeyFileBytes bounds a key file: an OpenSSH key of any type is a few
// KB; more is the wrong file.
const MaxKeyFileBytes = 64 << 10

// Load reads and validates the playbook at path. The error joins every
// *Error found (see Errors); the Playbook is nil when there is any.
func Load(path string) (*Playbook, error) {
	data, err := safefile.ReadRegular(path, MaxBytes)
	if err != nil {
		return nil, fmt.Errorf("read playbook: %w", err)
	}
	return loadBytes(path, filepath.Dir(path), data)
}

// LoadBytes validates a playbook held in memory; name is used in messages
// and relative image files resolve against the current directory.
func LoadBytes(name string, data []byte) (*Playbook, error) {
	return loadBytes(name, ".", data)
}

func loadBytes(name, dir string, data []byte) (*Playbook, error) {
	root, err := yamlguard.Parse(data, yamlguard.DefaultAliasNodes)
	if err != nil {
		hint := "fix the YAML syntax first"
		if errors.Is(err, yamlguard.ErrMultipleDocuments) || errors.Is(err, yamlguard.ErrExcessiveAliasing) {
			hint = "" // their messages say what to do
		}
		// yaml's own message carries the line ("yaml: line 3: ...").
		return nil, joinErrors([]*Error{{File: name, Msg: err.Error(), Hint: hint, Err: err}})
	}
	d := &decoder{file: name}
	pb := &Playbook{File: name}
	if len(root.Content) == 0 {
		d.errorf(Pos{1, 1}, "start from playbooks/lab.yaml", "the playbook is empty")
		return nil, joinErrors(d.errs)
	}
	d.decode(root.Content[0], reflect.ValueOf(pb).Elem(), "playbook")
	v := validator{d: d, pb: pb, dir: dir}
	v.validate()
	if len(d.errs) > 0 {
		return nil, joinErrors(d.errs)
	}
	return pb, nil
}
