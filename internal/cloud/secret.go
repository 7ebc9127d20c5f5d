package cloud

import "log/slog"

// Secret holds a password or other credential. Every way Go offers to print
// or serialise a value (fmt verbs, encoding/json, YAML, slog) shows
// "[redacted]" instead, so a Secret can sit in structs that end up in logs,
// error messages or --json output without leaking. Code that really needs the
// value (writing clouds.yaml, sending it to keystone) converts explicitly with
// Reveal, which makes every such place easy to find.
type Secret string

const redacted = "[redacted]"

// Reveal returns the secret value itself.
func (s Secret) Reveal() string { return string(s) }

// String implements fmt.Stringer (%v, %s, %+v of enclosing structs).
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return redacted
}

// GoString implements fmt.GoStringer (%#v).
func (s Secret) GoString() string { return `"` + s.String() + `"` }

// MarshalJSON implements json.Marshaler.
func (s Secret) MarshalJSON() ([]byte, error) { return []byte(`"` + s.String() + `"`), nil }

// MarshalYAML implements yaml.Marshaler (go.yaml.in/yaml/v3 and gopkg.in/yaml).
func (s Secret) MarshalYAML() (any, error) { return s.String(), nil }

// LogValue implements slog.LogValuer.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }
