package config

import (
	"errors"
	"fmt"
	"reflect"
	"strings"

	"go.yaml.in/yaml/v3"

	suggestpkg "github.com/stacklab/stacklab/internal/suggest"
	"github.com/stacklab/stacklab/internal/yamlguard"
)

// Kinds of configuration error, for errors.Is.
var (
	ErrSyntax     = errors.New("invalid YAML")
	ErrUnknownKey = errors.New("unknown key")
	ErrType       = errors.New("wrong type")
	ErrValue      = errors.New("invalid value")
)

// Error is one problem in a configuration file.
type Error struct {
	File string
	Line int    // 0 when unknown (e.g. a value that came from the defaults)
	Key  string // dotted, e.g. "network.mtu"
	Kind error  // ErrSyntax, ErrUnknownKey, ErrType or ErrValue
	Msg  string
	// Cause is what the YAML reader refused, when that is the problem
	// (yamlguard.ErrExcessiveAliasing, ...).
	Cause error
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	b.WriteString(": ")
	if e.Key != "" {
		b.WriteString(e.Key + ": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

func (e *Error) Unwrap() []error {
	if e.Cause != nil {
		return []error{e.Kind, e.Cause}
	}
	return []error{e.Kind}
}

// decode overlays the YAML document in data onto c. It walks the node tree
// itself rather than using yaml's KnownFields so that every problem is
// reported at once, with a line number and a suggestion.
func decode(data []byte, file string, c *Config) []*Error {
	doc, err := yamlguard.Parse(data, yamlguard.DefaultAliasNodes)
	var multi *yamlguard.MultipleDocumentsError
	switch {
	case errors.As(err, &multi):
		return []*Error{{File: file, Line: multi.Line, Kind: ErrSyntax, Msg: "more than one YAML document; keep a single one", Cause: err}}
	case err != nil:
		return []*Error{{File: file, Kind: ErrSyntax, Msg: err.Error(), Cause: err}}
	case doc.Kind == 0:
		return nil // empty file or only comments
	}
	root := doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	if root.Kind == yaml.ScalarNode && root.Tag == "!!null" {
		return nil
	}
	if c.origins == nil {
		c.origins = map[string]position{}
	}
	d := decoder{file: file, origins: c.origins}
	d.mapping(root, reflect.ValueOf(c).Elem(), "")
	return d.errs
}

type decoder struct {
	file    string
	origins map[string]position
	errs    []*Error
}

func (d *decoder) fail(n *yaml.Node, key string, kind error, format string, a ...any) {
	d.errs = append(d.errs, &Error{File: d.file, Line: n.Line, Key: key, Kind: kind, Msg: fmt.Sprintf(format, a...)})
}

func (d *decoder) mapping(n *yaml.Node, v reflect.Value, prefix string) {
	where := strings.TrimSuffix(prefix, ".")
	if n.Kind != yaml.MappingNode {
		d.fail(n, where, ErrType, "expected a mapping of keys, got %s", describe(n))
		return
	}
	fields := map[string]int{}
	var names []string
	for i := 0; i < v.NumField(); i++ {
		if name := yamlName(v.Type().Field(i)); name != "" {
			fields[name] = i
			names = append(names, name)
		}
	}
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		kn, vn := n.Content[i], n.Content[i+1]
		key := prefix + kn.Value
		if kn.Kind != yaml.ScalarNode {
			d.fail(kn, where, ErrType, "a key must be a plain name, got %s", describe(kn))
			continue
		}
		if line, dup := seen[kn.Value]; dup {
			d.fail(kn, key, ErrValue, "set twice (first at line %d); keep one", line)
			continue
		}
		seen[kn.Value] = kn.Line
		idx, ok := fields[kn.Value]
		if !ok {
			d.fail(kn, key, ErrUnknownKey, "unknown key%s", suggest(kn.Value, prefix, names))
			continue
		}
		fv := v.Field(idx)
		if fv.Kind() == reflect.Struct {
			if vn.Kind == yaml.ScalarNode && vn.Tag == "!!null" {
				continue // "network:" with nothing under it
			}
			d.mapping(vn, fv, key+".")
			continue
		}
		d.scalar(vn, fv, key)
	}
}

func (d *decoder) scalar(n *yaml.Node, v reflect.Value, key string) {
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		// "mtu:" with no value keeps the default rather than guessing
		// what an empty value of each type would mean.
		return
	}
	switch v.Kind() {
	case reflect.String:
		// yaml would turn "region: 1" or "user: true" into strings; a
		// number or boolean where a name belongs is far more often a
		// mistake, and quoting it says otherwise.
		if n.Kind != yaml.ScalarNode || n.Tag != "!!str" {
			d.fail(n, key, ErrType, "expected a string, got %s (quote it if you mean the text)", describe(n))
			return
		}
		v.SetString(n.Value)
	case reflect.Int:
		var i int
		if n.Kind != yaml.ScalarNode || n.Tag != "!!int" || n.Decode(&i) != nil {
			d.fail(n, key, ErrType, "expected a whole number, got %s", describe(n))
			return
		}
		v.SetInt(int64(i))
	default:
		panic(fmt.Sprintf("config: field %s of unsupported kind %s", key, v.Kind()))
	}
	d.origins[key] = position{d.file, n.Line}
}

func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	}
	kind := map[string]string{"!!str": "text", "!!int": "number", "!!float": "number", "!!bool": "boolean", "!!null": "nothing"}[n.Tag]
	if kind == "" {
		kind = n.Tag
	}
	return fmt.Sprintf("%s %q", kind, n.Value)
}

// suggest finds the known key the user most likely meant: a close spelling
// in the same section, or the same name in another section (a key filed
// under the wrong heading).
func suggest(got, prefix string, siblings []string) string {
	best, bestDist := "", 0
	for _, s := range siblings {
		dist := suggestpkg.Distance(strings.ToLower(got), s)
		if best == "" || dist < bestDist {
			best, bestDist = s, dist
		}
	}
	if best != "" && bestDist <= max(2, len(got)/3) {
		return fmt.Sprintf("; did you mean %q?", prefix+best)
	}
	for _, k := range Keys() {
		section, name, _ := strings.Cut(k, ".")
		if (name == got || section == got) && (prefix == "" || !strings.HasPrefix(k, prefix)) {
			if section == got {
				return fmt.Sprintf("; %q is a section, it belongs at the top level", got)
			}
			return fmt.Sprintf("; did you mean %q? (it belongs under %s:)", k, section)
		}
	}
	if prefix == "" {
		return "; known sections: " + strings.Join(siblings, ", ")
	}
	return "; known keys here: " + strings.Join(siblings, ", ")
}
