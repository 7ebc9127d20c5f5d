package labfind

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/stacklab/stacklab/internal/cloud"
)

// ErrNoCreds: no usable credentials (no OS_AUTH_URL, user or password).
var ErrNoCreds = errors.New("no admin credentials")

// CredsFromEnv reads an admin-openrc's OS_* variables through getenv
// (os.Getenv, or a parsed openrc) into the entry cloud.OpenEntry logs in
// with; source names where they came from.
func CredsFromEnv(getenv func(string) string, source string) (cloud.CloudEntry, error) {
	c := cloud.CloudEntry{
		Name:    source,
		AuthURL: getenv("OS_AUTH_URL"), Username: getenv("OS_USERNAME"),
		Password: cloud.Secret(getenv("OS_PASSWORD")), ProjectName: getenv("OS_PROJECT_NAME"),
		UserDomainName: getenv("OS_USER_DOMAIN_NAME"), ProjectDomainName: getenv("OS_PROJECT_DOMAIN_NAME"),
		RegionName: getenv("OS_REGION_NAME"), Interface: getenv("OS_INTERFACE"),
	}
	var missing []string
	for _, f := range []struct{ name, v string }{
		{"OS_AUTH_URL", c.AuthURL}, {"OS_USERNAME", c.Username}, {"OS_PASSWORD", c.Password.Reveal()},
	} {
		if f.v == "" {
			missing = append(missing, f.name)
		}
	}
	if len(missing) > 0 {
		return cloud.CloudEntry{}, fmt.Errorf("%s: %s not set: %w", source, strings.Join(missing, ", "), ErrNoCreds)
	}
	if c.UserDomainName == "" {
		c.UserDomainName = "Default"
	}
	if c.ProjectDomainName == "" {
		c.ProjectDomainName = "Default"
	}
	return c, nil
}

// ParseOpenRC reads `export OS_X=value` lines of an openrc file without
// running a shell: single- and double-quoted values are unquoted, anything
// that needs a shell to evaluate ($VAR, $(…)) is refused rather than
// guessed. The error names the line, never its value.
func ParseOpenRC(b []byte) (map[string]string, error) {
	out := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		line = strings.TrimSpace(strings.TrimPrefix(line, "export "))
		k, v, ok := strings.Cut(line, "=")
		if !ok || !strings.HasPrefix(k, "OS_") {
			continue // unset, comments, other variables: not ours
		}
		val, err := shellWord(v)
		if err != nil {
			return nil, fmt.Errorf("line %d (%s): %w", n, k, err)
		}
		out[k] = val
	}
	return out, sc.Err()
}

// ErrNeedsShell: a value only a shell could evaluate.
var ErrNeedsShell = errors.New("value needs a shell to evaluate")

func shellWord(v string) (string, error) {
	v = strings.TrimSpace(v)
	switch {
	case strings.HasPrefix(v, "'") && strings.HasSuffix(v, "'") && len(v) >= 2:
		return v[1 : len(v)-1], nil
	case strings.HasPrefix(v, `"`) && strings.HasSuffix(v, `"`) && len(v) >= 2:
		in := v[1 : len(v)-1]
		if strings.ContainsAny(in, "$`") {
			return "", ErrNeedsShell
		}
		s, err := strconv.Unquote(`"` + strings.ReplaceAll(in, `\$`, "$") + `"`)
		if err != nil {
			return "", ErrNeedsShell
		}
		return s, nil
	case strings.ContainsAny(v, "$`'\" \t;|&"):
		return "", ErrNeedsShell
	}
	return v, nil
}
