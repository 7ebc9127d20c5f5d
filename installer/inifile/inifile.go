package inifile

// Why not gopkg.in/ini.v1: measured on Debian 12's own files (nova-common
// 26.2.2, neutron-common 21.0.0, keystone 22.0.2), a no-op load+save with
// go-ini rewrote 9,217 of nova.conf's 10,157 lines: it drops the [DEFAULT]
// header, turns "#opt = x" into "# opt = x", aligns every "=", and removes
// the blank lines between options. The maintainer's file is the
// documentation an operator reads and what ucf diffs against on upgrade, so
// this package keeps every byte it does not have to change. The grammar
// mirrors oslo.config's iniparser, which is what reads these files.

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// DefaultSection is the section an empty Set.Section refers to.
const DefaultSection = "DEFAULT"

type kind uint8

const (
	kindOther   kind = iota // comment, blank or anything oslo would ignore
	kindSection             // [name]
	kindKey                 // key = value
	kindCont                // indented continuation of the previous key's value
)

type line struct {
	text    string // without the line terminator
	eol     string // "\n", "\r\n", or "" on an unterminated last line
	kind    kind
	section string // kindSection: its name; otherwise the enclosing section
	key     string // kindKey
	value   string // kindKey: value on the key line; kindCont: the stripped text
}

// File is an INI file held line by line, so that rendering it unchanged
// gives back the exact bytes it was parsed from.
type File struct {
	lines []line
	// keys indexes key lines by section and key, made by Parse and again
	// after every edit (so concurrent readers only read): a reader asking
	// each section for a few keys (doctor's region check, on nova.conf's
	// 10,000 lines) otherwise scans the whole file once per question.
	keys map[keyID][]int
}

// Parse never fails: lines oslo.config would reject are kept verbatim and
// ignored, because refusing to touch a file over an unrelated odd line helps
// nobody.
func Parse(data []byte) *File {
	// One string for the whole file: every line's text is a slice of it,
	// not an allocation of its own.
	rest := string(data)
	f := &File{lines: make([]line, 0, strings.Count(rest, "\n")+1)}
	section := ""
	inValue := false
	for len(rest) > 0 {
		var text, eol string
		if i := strings.IndexByte(rest, '\n'); i >= 0 {
			text, rest = rest[:i], rest[i+1:]
			eol = "\n"
			if strings.HasSuffix(text, "\r") {
				text, eol = text[:len(text)-1], "\r\n"
			}
		} else {
			text, rest = rest, ""
		}
		l := line{text: text, eol: eol, section: section}
		trimmed := strings.TrimRight(text, " \t\r")
		switch {
		case trimmed == "":
			inValue = false
		case text[0] == ' ' || text[0] == '\t':
			// oslo treats any indented line after a key as part of its
			// value, even one that looks like a comment.
			if inValue {
				l.kind = kindCont
				l.value = strings.TrimSpace(text)
			}
		case text[0] == '[':
			inValue = false
			if strings.HasSuffix(trimmed, "]") {
				section = strings.TrimSpace(trimmed[1 : len(trimmed)-1])
				l.kind, l.section = kindSection, section
			}
		case text[0] == '#' || text[0] == ';':
			inValue = false
		default:
			key, value, ok := splitKeyValue(trimmed)
			inValue = ok
			if ok {
				l.kind, l.key, l.value = kindKey, key, value
			}
		}
		f.lines = append(f.lines, l)
	}
	f.index()
	return f
}

// splitKeyValue splits on whichever of '=' and ':' comes first, as oslo
// does, so "connection = mysql+pymysql://..." keeps its colons.
func splitKeyValue(s string) (key, value string, ok bool) {
	i := strings.IndexAny(s, "=:")
	if i < 0 {
		return "", "", false
	}
	key = strings.TrimSpace(s[:i])
	if key == "" {
		return "", "", false
	}
	return key, strings.TrimSpace(s[i+1:]), true
}

// Bytes renders the file.
func (f *File) Bytes() []byte {
	var b bytes.Buffer
	for _, l := range f.lines {
		b.WriteString(l.text)
		b.WriteString(l.eol)
	}
	return b.Bytes()
}

// occurrence is one assignment of a key: its key line and the number of
// continuation lines that follow it.
type occurrence struct {
	at, n int
}

func (f *File) index() {
	f.keys = map[keyID][]int{}
	for i, l := range f.lines {
		if l.kind == kindKey {
			id := keyID{l.section, l.key}
			f.keys[id] = append(f.keys[id], i)
		}
	}
}

func (f *File) occurrences(section, key string) []occurrence {
	var out []occurrence
	for _, i := range f.keys[keyID{section, key}] {
		o := occurrence{at: i, n: 1}
		for i+o.n < len(f.lines) && f.lines[i+o.n].kind == kindCont {
			o.n++
		}
		out = append(out, o)
	}
	return out
}

func (f *File) valueAt(o occurrence) string {
	parts := make([]string, 0, o.n)
	for _, l := range f.lines[o.at : o.at+o.n] {
		parts = append(parts, l.value)
	}
	return strings.Join(parts, "\n")
}

// Values returns every value assigned to key in section, in file order;
// oslo.config's MultiStrOpt reads them all.
func (f *File) Values(section, key string) []string {
	section = sectionName(section)
	var out []string
	for _, o := range f.occurrences(section, key) {
		out = append(out, f.valueAt(o))
	}
	return out
}

// Get returns the value oslo.config would use for a single-valued option:
// the last assignment wins.
func (f *File) Get(section, key string) (string, bool) {
	v := f.Values(section, key)
	if len(v) == 0 {
		return "", false
	}
	return v[len(v)-1], true
}

// Sections lists section names in order of first appearance.
func (f *File) Sections() []string {
	var out []string
	for _, l := range f.lines {
		if l.kind == kindSection && !slices.Contains(out, l.section) {
			out = append(out, l.section)
		}
	}
	return out
}

func sectionName(s string) string {
	if s == "" {
		return DefaultSection
	}
	return s
}

// ErrInvalidSet reports a Set that cannot be written so that oslo.config
// reads it back unchanged.
var ErrInvalidSet = errors.New("invalid setting")

func validate(s Set) error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w [%s] %q: %s", ErrInvalidSet, sectionName(s.Section), s.Key, fmt.Sprintf(format, a...))
	}
	if strings.ContainsAny(s.Section, "[]\r\n") || strings.TrimSpace(s.Section) != s.Section {
		return bad("section name must be trimmed and free of brackets and newlines")
	}
	if s.Key == "" || strings.TrimSpace(s.Key) != s.Key || strings.ContainsAny(s.Key, "=:\r\n") ||
		strings.ContainsAny(s.Key[:1], "#;[") {
		return bad("key must be non-empty, trimmed, free of '=', ':' and newlines, and not start with '#', ';' or '['")
	}
	if s.Delete {
		return nil
	}
	if strings.Contains(s.Value, "\r") {
		return bad("value contains a carriage return")
	}
	for i, part := range strings.Split(s.Value, "\n") {
		if strings.TrimSpace(part) != part {
			return bad("value line %d has leading or trailing blanks, which the parser strips", i+1)
		}
		if i > 0 && part == "" {
			return bad("value line %d is empty, which would end the value", i+1)
		}
	}
	return nil
}

type keyID struct{ section, key string }

type desired struct {
	id     keyID
	delete bool
	values []string
}

// plan folds sets into one desired state per key. Several Sets of one key in
// one call make a multi-valued option (MultiStrOpt) in the order given; a
// Delete discards whatever came before it.
func plan(sets []Set) ([]desired, error) {
	var out []desired
	index := map[keyID]int{}
	var errs []error
	for _, s := range sets {
		if err := validate(s); err != nil {
			errs = append(errs, err)
			continue
		}
		id := keyID{sectionName(s.Section), s.Key}
		i, seen := index[id]
		if !seen {
			i = len(out)
			index[id] = i
			out = append(out, desired{id: id})
		}
		d := &out[i]
		switch {
		case s.Delete:
			d.delete, d.values = true, nil
		case d.delete:
			d.delete, d.values = false, []string{s.Value}
		default:
			d.values = append(d.values, s.Value)
		}
	}
	return out, errors.Join(errs...)
}

// Apply changes the file in memory. It is all or nothing: an invalid Set
// leaves the file untouched.
func (f *File) Apply(sets []Set) error {
	ds, err := plan(sets)
	if err != nil {
		return err
	}
	for _, d := range ds {
		f.apply(d)
	}
	return nil
}

func (f *File) apply(d desired) {
	occ := f.occurrences(d.id.section, d.id.key)
	if d.delete {
		if len(occ) == 0 {
			return
		}
		for i := len(occ) - 1; i >= 0; i-- {
			f.lines = slices.Delete(f.lines, occ[i].at, occ[i].at+occ[i].n)
		}
		f.index()
		return
	}
	current := make([]string, len(occ))
	for i, o := range occ {
		current[i] = f.valueAt(o)
	}
	if slices.Equal(current, d.values) {
		return
	}
	var rendered []line
	for _, v := range d.values {
		rendered = append(rendered, render(d.id, v)...)
	}
	if len(occ) > 0 {
		// Rewrite in place of the first assignment so the option stays
		// where the operator (or the package) put it.
		for i := len(occ) - 1; i >= 1; i-- {
			f.lines = slices.Delete(f.lines, occ[i].at, occ[i].at+occ[i].n)
		}
		f.lines = slices.Replace(f.lines, occ[0].at, occ[0].at+occ[0].n, rendered...)
		f.index()
		return
	}
	f.insert(d.id, rendered)
	// Once per edit, not per no-op: a converged file (every run after the
	// first) is read and compared, never indexed again.
	f.index()
}

func render(id keyID, value string) []line {
	parts := strings.Split(value, "\n")
	text := id.key + " ="
	if parts[0] != "" {
		text += " " + parts[0]
	}
	out := []line{{text: text, eol: "\n", kind: kindKey, section: id.section, key: id.key, value: parts[0]}}
	for _, p := range parts[1:] {
		out = append(out, line{text: "    " + p, eol: "\n", kind: kindCont, section: id.section, value: p})
	}
	return out
}

// insert places a new key. Next to its commented default ("#key = ...") if
// the section has one, so the result reads like the maintainer's
// documentation with the value filled in; otherwise at the end of the
// section, or in a new section at the end of the file.
func (f *File) insert(id keyID, rendered []line) {
	type block struct{ start, end int } // header index, index past the last line
	var blocks []block
	for i, l := range f.lines {
		if l.kind != kindSection {
			continue
		}
		if n := len(blocks); n > 0 && blocks[n-1].end == -1 {
			blocks[n-1].end = i
		}
		if l.section == id.section {
			blocks = append(blocks, block{start: i, end: -1})
		}
	}
	if n := len(blocks); n > 0 && blocks[n-1].end == -1 {
		blocks[n-1].end = len(f.lines)
	}

	for _, b := range blocks {
		for i := b.start + 1; i < b.end; i++ {
			if isCommentedDefault(f.lines[i].text, id.key) {
				if next := i + 1; next < b.end && isIndented(f.lines[next].text) {
					// An indented line right after our key would be read
					// as part of its value.
					rendered = append(rendered, line{eol: "\n", section: id.section})
				}
				f.insertAt(i+1, rendered)
				return
			}
		}
	}

	if len(blocks) > 0 {
		b := blocks[len(blocks)-1]
		last := b.start
		for i := b.end - 1; i > b.start; i-- {
			if strings.TrimSpace(f.lines[i].text) != "" {
				last = i
				break
			}
		}
		if k := f.lines[last].kind; k == kindOther {
			// After a trailing comment the new key would read as the value
			// of whatever option that comment documents.
			rendered = append([]line{{eol: "\n", section: id.section}}, rendered...)
		}
		f.insertAt(last+1, rendered)
		return
	}

	var add []line
	if n := len(f.lines); n > 0 && strings.TrimSpace(f.lines[n-1].text) != "" {
		add = append(add, line{eol: "\n"})
	}
	add = append(add, line{text: "[" + id.section + "]", eol: "\n", kind: kindSection, section: id.section})
	f.insertAt(len(f.lines), append(add, rendered...))
}

func (f *File) insertAt(i int, ls []line) {
	if i > 0 && f.lines[i-1].eol == "" {
		f.lines[i-1].eol = "\n"
	}
	f.lines = slices.Insert(f.lines, i, ls...)
}

func isCommentedDefault(text, key string) bool {
	if text == "" || (text[0] != '#' && text[0] != ';') {
		return false
	}
	rest := strings.TrimLeft(text[1:], " \t")
	if !strings.HasPrefix(rest, key) {
		return false
	}
	rest = strings.TrimLeft(rest[len(key):], " \t")
	return rest != "" && (rest[0] == '=' || rest[0] == ':')
}

func isIndented(text string) bool {
	return text != "" && (text[0] == ' ' || text[0] == '\t') && strings.TrimSpace(text) != ""
}
