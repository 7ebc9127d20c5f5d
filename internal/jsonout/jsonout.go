// Package jsonout is every command's --output json: one indented document
// per run, so that programs reading any stacklab command parse the same
// shape of output.
package jsonout

import (
	"encoding/json"
	"fmt"
	"io"
)

// Write encodes v to w as one indented JSON document.
func Write(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("write json: %w", err)
	}
	return nil
}
