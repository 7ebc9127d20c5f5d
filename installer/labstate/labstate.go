// Package labstate is what stacklab install records about the lab it built,
// so stacklab doctor compares the host as it is now with what was installed
// rather than with settings anyone can edit (Horizon's OPENSTACK_HOST).
package labstate

import (
	"encoding/json"
	"errors"
	"fmt"
)

// File is the state file's name in the state directory (paths.state_dir).
const File = "state.json"

// DefaultPath is File in the default state directory.
const DefaultPath = "/var/lib/stacklab/" + File

// State is the record. It holds no secret: doctor shows it as evidence.
type State struct {
	// MgmtIP is the management address the services and the catalog were
	// rendered with.
	MgmtIP string `json:"mgmt_ip"`
}

// Encode renders s as the file's content.
func (s State) Encode() []byte {
	b, _ := json.MarshalIndent(s, "", "  ") // a struct of strings always marshals
	return append(b, '\n')
}

// ErrNoAddress: the file parses but records no management address.
var ErrNoAddress = errors.New("no mgmt_ip recorded")

// Decode parses a state file; one that records no address is an error, so
// a reader never takes "" for the installed address.
func Decode(b []byte) (State, error) {
	var s State
	if err := json.Unmarshal(b, &s); err != nil {
		return State{}, fmt.Errorf("lab state: %w", err)
	}
	if s.MgmtIP == "" {
		return State{}, fmt.Errorf("lab state: %w", ErrNoAddress)
	}
	return s, nil
}
