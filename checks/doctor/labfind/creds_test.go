package labfind

import (
	"errors"
	"strings"
	"testing"
)

// The guide's admin-openrc, as written.
const adminOpenRC = `export OS_PROJECT_DOMAIN_NAME=Default
export OS_USER_DOMAIN_NAME=Default
export OS_PROJECT_NAME=admin
export OS_USERNAME=admin
export OS_PASSWORD='s3cr3t pass'
export OS_AUTH_URL=http://controller:5000/v3
export OS_IDENTITY_API_VERSION=3
export OS_IMAGE_API_VERSION=2
# a comment
unset OS_TOKEN
PS1="(admin) $PS1"
`

func TestParseOpenRCAndCreds(t *testing.T) {
	env, err := ParseOpenRC([]byte(adminOpenRC))
	if err != nil {
		t.Fatal(err)
	}
	c, err := CredsFromEnv(func(k string) string { return env[k] }, "admin-openrc")
	if err != nil {
		t.Fatal(err)
	}
	if c.AuthURL != "http://controller:5000/v3" || c.Username != "admin" || c.Password.Reveal() != "s3cr3t pass" ||
		c.ProjectName != "admin" || c.UserDomainName != "Default" || c.ProjectDomainName != "Default" {
		t.Errorf("got %+v", c)
	}
	if strings.Contains(c.Password.String(), "s3cr3t") {
		t.Error("the password prints")
	}
}

func TestParseOpenRCRefusesShell(t *testing.T) {
	for _, line := range []string{
		`export OS_PASSWORD=$(pass show openstack)`,
		`export OS_PASSWORD="$SECRET"`,
		"export OS_PASSWORD=`cat /root/pw`",
	} {
		_, err := ParseOpenRC([]byte(line + "\n"))
		if !errors.Is(err, ErrNeedsShell) {
			t.Errorf("%s: want ErrNeedsShell, got %v", line, err)
		}
		if err != nil && strings.Contains(err.Error(), "pass show") {
			t.Errorf("error quotes the value: %v", err)
		}
	}
}

func TestCredsFromEnvMissing(t *testing.T) {
	_, err := CredsFromEnv(func(k string) string {
		if k == "OS_AUTH_URL" {
			return "http://10.0.0.11:5000/v3"
		}
		return ""
	}, "environment")
	if !errors.Is(err, ErrNoCreds) || !strings.Contains(err.Error(), "OS_PASSWORD") {
		t.Errorf("got %v", err)
	}
}
