package playbooks

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"

	suggestpkg "github.com/stacklab/stacklab/internal/suggest"

	"go.yaml.in/yaml/v3"
)

// Pos is a place in a playbook file, 1-based as editors count.
type Pos struct {
	Line int `json:"line"`
	Col  int `json:"col"`
}

// Meta is embedded in every declared entry so that a semantic error found
// after decoding (a bad CIDR, a dangling reference) still points at the
// line the user wrote, not at the entry as a whole.
type Meta struct {
	At   Pos            `yaml:"-" json:"-"`
	Keys map[string]Pos `yaml:"-" json:"-"`
}

// pos is where key's value was written, or the entry itself when the key
// was left out (a missing required key is reported at its entry).
func (m Meta) pos(key string) Pos {
	if p, ok := m.Keys[key]; ok {
		return p
	}
	return m.At
}

func nodePos(n *yaml.Node) Pos { return Pos{Line: n.Line, Col: n.Column} }

// decoder turns a yaml.Node tree into typed structs by their yaml tags.
// It exists instead of yaml.Node.Decode with KnownFields because that stops
// at the first problem and has no suggestions; we want every unknown key
// and wrong type of the file at once, each with its line.
type decoder struct {
	file string
	errs []*Error
}

func (d *decoder) errorf(p Pos, hint, format string, args ...any) {
	d.errs = append(d.errs, &Error{File: d.file, Line: p.Line, Col: p.Col, Msg: fmt.Sprintf(format, args...), Hint: hint})
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	}
	switch n.ShortTag() {
	case "!!int":
		return "a number"
	case "!!bool":
		return "a boolean"
	case "!!null":
		return "null"
	case "!!float":
		return "a number"
	}
	return fmt.Sprintf("the string %q", n.Value)
}

// decode fills v from n; where names the value in messages ("subnets[0].cidr").
func (d *decoder) decode(n *yaml.Node, v reflect.Value, where string) {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	p := nodePos(n)
	switch {
	case v.Type() == reflect.TypeFor[*bool]():
		var b bool
		if d.decodeScalar(n, reflect.ValueOf(&b).Elem(), where) {
			v.Set(reflect.ValueOf(&b))
		}
		return
	case v.Kind() == reflect.Struct:
		d.decodeStruct(n, v, where)
		return
	case v.Kind() == reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			d.errorf(p, "write it as a YAML list (- item)", "%s: want a list, got %s", where, kindName(n))
			return
		}
		s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
		for i, c := range n.Content {
			d.decode(c, s.Index(i), fmt.Sprintf("%s[%d]", where, i))
		}
		v.Set(s)
		return
	}
	d.decodeScalar(n, v, where)
}

func (d *decoder) decodeScalar(n *yaml.Node, v reflect.Value, where string) bool {
	p := nodePos(n)
	tag := n.ShortTag()
	switch v.Kind() {
	case reflect.String:
		// A number or boolean written where a string is wanted is kept as
		// written (a name "2024" is a fine name); lists and maps are not.
		if n.Kind != yaml.ScalarNode || tag == "!!null" {
			d.errorf(p, "", "%s: want a string, got %s", where, kindName(n))
			return false
		}
		v.SetString(n.Value)
		return true
	case reflect.Int:
		if n.Kind != yaml.ScalarNode || tag != "!!int" {
			d.errorf(p, "", "%s: want a whole number, got %s", where, kindName(n))
			return false
		}
		i, err := strconv.ParseInt(n.Value, 0, 64)
		if err != nil {
			d.errorf(p, "", "%s: %v", where, err)
			return false
		}
		v.SetInt(i)
		return true
	case reflect.Bool:
		if n.Kind != yaml.ScalarNode || tag != "!!bool" {
			d.errorf(p, "write true or false", "%s: want true or false, got %s", where, kindName(n))
			return false
		}
		v.SetBool(strings.EqualFold(n.Value, "true") || strings.EqualFold(n.Value, "yes") || strings.EqualFold(n.Value, "on"))
		return true
	}
	// A programming error in the schema types, not the user's.
	panic(fmt.Sprintf("playbooks: no decoding for %s", v.Type()))
}

func (d *decoder) decodeStruct(n *yaml.Node, v reflect.Value, where string) {
	p := nodePos(n)
	if n.Kind != yaml.MappingNode {
		d.errorf(p, "", "%s: want a mapping (key: value), got %s", where, kindName(n))
		return
	}
	t := v.Type()
	fields := map[string]int{}
	var names []string
	meta := -1
	for i := range t.NumField() {
		f := t.Field(i)
		if f.Type == reflect.TypeFor[Meta]() {
			meta = i
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "" || name == "-" {
			continue
		}
		fields[name] = i
		names = append(names, name)
	}
	var m *Meta
	if meta >= 0 {
		m = v.Field(meta).Addr().Interface().(*Meta)
		m.At = p
		m.Keys = map[string]Pos{}
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		key := k.Value
		if seen[key] {
			d.errorf(nodePos(k), "remove one of them", "%s: key %q given twice", where, key)
			continue
		}
		seen[key] = true
		idx, ok := fields[key]
		if !ok {
			hint := ""
			if s := suggest(key, names); s != "" {
				hint = fmt.Sprintf("did you mean %q?", s)
			} else {
				hint = "known keys: " + strings.Join(names, ", ")
			}
			d.errorf(nodePos(k), hint, "%s: unknown key %q", where, key)
			continue
		}
		if m != nil {
			m.Keys[key] = nodePos(val)
		}
		d.decode(val, v.Field(idx), where+"."+key)
	}
}

// suggest returns the candidate closest to s when it is close enough to
// be a typo, else "".
func suggest(s string, candidates []string) string { return suggestpkg.Closest(s, candidates) }
