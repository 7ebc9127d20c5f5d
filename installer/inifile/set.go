// Package inifile edits OpenStack-style INI files in place, preserving the
// package maintainer's comments and layout, and reports whether anything
// changed so the installer restarts a unit only when its configuration did.
package inifile

// Set is one desired setting. An empty Section means [DEFAULT]. Delete
// removes the key instead of setting it.
type Set struct {
	Section string `json:"section"`
	Key     string `json:"key"`
	Value   string `json:"value,omitempty"`
	Delete  bool   `json:"delete,omitempty"`
}
