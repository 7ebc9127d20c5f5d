package openstack

import (
	"errors"
	"regexp"
	"strings"
)

// PyMarker heads the block where EditPythonSettings appends settings the
// file does not assign yet.
const PyMarker = "# Settings below are managed by stacklab."

var pyAssignRE = regexp.MustCompile(`^([A-Za-z_][A-Za-z0-9_]*)[ \t]*=([^=]|$)`)

// EditPythonSettings sets top-level assignments in a Python settings file
// (Horizon's local_settings.py): every top-level `NAME = expr` statement of
// a setting's NAME is replaced by `NAME = Expr`, however many lines it
// spans (brackets and parentheses are balanced, strings, comments and
// backslash continuations understood); settings the file does not assign
// are appended under PyMarker. Commented-out assignments and indented
// ones (inside if/def blocks) are left alone. Applying the same settings
// again changes nothing; the bool reports whether content changed.
//
// Content that ends inside a bracket or a string (see CheckPythonSettings)
// is returned unchanged: where it ends is unknowable, and Python would
// not load it anyway.
func EditPythonSettings(content string, settings []PySetting) (string, bool) {
	if CheckPythonSettings(content) != nil {
		return content, false
	}
	want := make(map[string]string, len(settings))
	for _, s := range settings {
		want[s.Name] = s.Name + " = " + s.Expr + "\n"
	}
	var b strings.Builder
	seen := make(map[string]bool, len(settings))
	for _, st := range pyStatements(content) {
		text := content[st.start:st.end]
		if m := pyAssignRE.FindStringSubmatch(text); m != nil {
			if line, ok := want[m[1]]; ok {
				seen[m[1]] = true
				b.WriteString(line)
				continue
			}
		}
		b.WriteString(text)
	}
	out := b.String()
	var missing []string
	for _, s := range settings {
		if !seen[s.Name] {
			seen[s.Name] = true // a name given twice is appended once
			missing = append(missing, want[s.Name])
		}
	}
	if len(missing) > 0 {
		if out != "" && !strings.HasSuffix(out, "\n") {
			out += "\n"
		}
		if !strings.Contains(out, PyMarker) {
			if out != "" {
				out += "\n"
			}
			out += PyMarker + "\n"
		}
		out += strings.Join(missing, "")
	}
	return out, out != content
}

// ErrUnbalancedPython: the file ends inside brackets, a string or a line
// continuation.
var ErrUnbalancedPython = errors.New("python settings: file ends inside brackets, a string or a line continuation")

// CheckPythonSettings reports whether EditPythonSettings can edit content:
// it must not end inside brackets, a string or a line continuation.
func CheckPythonSettings(content string) error {
	for i := 0; i < len(content); {
		end, complete := pyLogicalLineEnd(content, i)
		if !complete {
			return ErrUnbalancedPython
		}
		i = end
	}
	return nil
}

type pyStmt struct{ start, end int }

// pyStatements splits src into logical lines: each ends at a newline
// outside brackets, strings and continuations (the newline included).
// Concatenated, they are src.
func pyStatements(src string) []pyStmt {
	var out []pyStmt
	for i := 0; i < len(src); {
		end, _ := pyLogicalLineEnd(src, i)
		out = append(out, pyStmt{i, end})
		i = end
	}
	return out
}

// pyLogicalLineEnd returns the end of the logical line starting at i and
// whether it is complete (not cut off by the end of src inside brackets,
// a string or a continuation).
func pyLogicalLineEnd(src string, i int) (int, bool) {
	depth := 0
	for i < len(src) {
		switch c := src[i]; c {
		case '#':
			for i < len(src) && src[i] != '\n' {
				i++
			}
			continue
		case '\'', '"':
			var ok bool
			if i, ok = pySkipString(src, i); !ok {
				return len(src), false
			}
			continue
		case '(', '[', '{':
			depth++
		case ')', ']', '}':
			if depth > 0 {
				depth--
			}
		case '\\':
			if i+1 == len(src) {
				return len(src), false
			}
			if src[i+1] == '\n' {
				i += 2
				continue
			}
		case '\n':
			if depth == 0 {
				return i + 1, true
			}
		}
		i++
	}
	return len(src), depth == 0
}

// pySkipString returns the index just after the string literal starting
// at src[i] (a quote) and false if src ends inside it. An unterminated
// single-quoted string ends at the newline, which is left for the caller
// (Python would reject it; the line stays as it is).
func pySkipString(src string, i int) (int, bool) {
	q := src[i]
	if delim := strings.Repeat(string(q), 3); strings.HasPrefix(src[i:], delim) {
		for j := i + 3; j < len(src); j++ {
			if src[j] == '\\' {
				j++
				continue
			}
			if strings.HasPrefix(src[j:], delim) {
				return j + 3, true
			}
		}
		return len(src), false
	}
	for j := i + 1; j < len(src); j++ {
		switch src[j] {
		case '\\':
			j++
		case q:
			return j + 1, true
		case '\n':
			return j, true
		}
	}
	return len(src), false
}
