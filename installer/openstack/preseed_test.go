package openstack

import (
	"bufio"
	"os"
	"strings"
	"testing"
)

// TestPreseedsExist checks every preseeded question against the real
// packages' templates (testdata/debconf-templates.txt, see
// testdata/README.md): a misspelt question is silently ignored by debconf
// and the package would configure its own database.
func TestPreseedsExist(t *testing.T) {
	f, err := os.Open("testdata/debconf-templates.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	type tmpl struct{ owner, typ string }
	templates := map[string]tmpl{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fs := strings.Fields(line)
		if len(fs) != 3 {
			t.Fatalf("bad templates line %q", line)
		}
		templates[fs[1]] = tmpl{fs[0], fs[2]}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, ps := range Preseeds(sampleParams()) {
		if seen[ps.Question] {
			t.Errorf("%s preseeded twice", ps.Question)
		}
		seen[ps.Question] = true
		tm, ok := templates[ps.Question]
		if !ok {
			t.Errorf("%s: no such debconf question in Debian 12's templates", ps.Question)
			continue
		}
		if tm.owner != ps.Owner || tm.typ != ps.Type {
			t.Errorf("%s: owner/type %s/%s, templates say %s/%s", ps.Question, ps.Owner, ps.Type, tm.owner, tm.typ)
		}
		if ps.Value == "" {
			t.Errorf("%s: empty value", ps.Question)
		}
	}
	// Every "configure_*" question the packages ask must be answered: a
	// new one would let a package configure a database or endpoint.
	for q := range templates {
		if (strings.Contains(q, "/configure") || q == "keystone/create-admin-tenant" || q == "keystone/register-endpoint") && !seen[q] {
			t.Errorf("%s is asked by a package but not preseeded", q)
		}
	}
}

func TestPreseedString(t *testing.T) {
	got := Preseed{"nova-common", "nova/my-ip", "string", "192.0.2.10"}.String()
	if want := "nova-common nova/my-ip string 192.0.2.10"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}
