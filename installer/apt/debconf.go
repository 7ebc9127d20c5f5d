package apt

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Selection is one debconf answer, as debconf-set-selections reads it.
type Selection struct {
	Owner    string // package, e.g. "keystone"
	Question string // e.g. "keystone/configure_db"
	Type     string // boolean, string, select, password, ...
	Value    string
}

var debconfTypes = []string{"boolean", "string", "select", "multiselect", "password", "note", "text", "title", "error"}

func (s Selection) validate() error {
	switch {
	case s.Owner == "" || strings.ContainsAny(s.Owner, " \t\n"):
		return fmt.Errorf("debconf selection %q: owner %q must be one word", s.Question, s.Owner)
	case s.Question == "" || strings.ContainsAny(s.Question, " \t\n") || !strings.Contains(s.Question, "/"):
		return fmt.Errorf("debconf selection %q: question must look like package/name", s.Question)
	case !slices.Contains(debconfTypes, s.Type):
		return fmt.Errorf("debconf selection %q: unknown type %q", s.Question, s.Type)
	case strings.ContainsAny(s.Value, "\n\r"):
		return fmt.Errorf("debconf selection %q: value must be a single line", s.Question)
	case s.Type == "boolean" && s.Value != "true" && s.Value != "false":
		return fmt.Errorf("debconf selection %q: boolean must be true or false", s.Question)
	}
	return nil
}

func (s Selection) line() string {
	return s.Owner + " " + s.Question + " " + s.Type + " " + s.Value + "\n"
}

// DebconfDB is debconf's question database.
const DebconfDB = "/var/cache/debconf/config.dat"

type debconfEntry struct {
	value  string
	owners []string
}

// parseDebconfDB reads the "Name: / Value: / Owners:" stanzas of
// config.dat.
func parseDebconfDB(data []byte) map[string]debconfEntry {
	out := map[string]debconfEntry{}
	var name string
	var e debconfEntry
	flush := func() {
		if name != "" {
			out[name] = e
		}
		name, e = "", debconfEntry{}
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64*1024), 16*1024*1024) // ca-certificates' lines are long
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			flush()
			continue
		}
		if line[0] == ' ' || line[0] == '\t' {
			continue // Variables: continuation
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		v = strings.TrimPrefix(v, " ")
		switch k {
		case "Name":
			name = v
		case "Value":
			e.value = v
		case "Owners":
			for _, o := range strings.Split(v, ",") {
				e.owners = append(e.owners, strings.TrimSpace(o))
			}
		}
	}
	flush()
	return out
}

// pendingSelections drops the selections debconf already holds. Passwords
// are kept: debconf stores them in passwords.dat, which we do not read.
func pendingSelections(db map[string]debconfEntry, sels []Selection) []Selection {
	var out []Selection
	for _, s := range sels {
		e, ok := db[s.Question]
		if ok && s.Type != "password" && e.value == s.Value && slices.Contains(e.owners, s.Owner) {
			continue
		}
		out = append(out, s)
	}
	return out
}

// Preseed answers debconf questions before the packages asking them are
// installed, so that no package configures its own database, RabbitMQ user
// or endpoints. Answers debconf already holds are not sent again; changed
// reports whether any were.
func (m *Manager) Preseed(ctx context.Context, sels []Selection) (changed bool, err error) {
	var errs []error
	for _, s := range sels {
		if err := s.validate(); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return false, err
	}
	data, err := os.ReadFile(filepath.Join(m.Root, DebconfDB))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return false, fmt.Errorf("read debconf database: %w", err)
	}
	pending := pendingSelections(parseDebconfDB(data), sels)
	if len(pending) == 0 {
		return false, nil
	}
	var in strings.Builder
	for _, s := range pending {
		in.WriteString(s.line())
	}
	var out bytes.Buffer
	err = m.runner().Run(ctx, Command{
		Name:   "debconf-set-selections",
		Env:    []string{"DEBIAN_FRONTEND=noninteractive", "LC_ALL=C.UTF-8"},
		Stdin:  strings.NewReader(in.String()),
		Output: &out,
	})
	if err != nil {
		// The output may quote a line back; values can be passwords, so
		// callers should pass it through their Redactor before logging.
		return false, fmt.Errorf("preseed %d debconf answers: %w: %s", len(pending), err, strings.TrimSpace(out.String()))
	}
	return true, nil
}
