package yamlguard

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// BillionLaughs is nine levels of nine aliases each: 9^9 (387 million)
// leaves from a few hundred bytes. Widen it to reach the 45 KB of the
// report; the depth is what makes it explode.
func BillionLaughs() string {
	var b strings.Builder
	b.WriteString(`a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]` + "\n")
	prev := "a"
	for _, c := range "bcdefghi" {
		fmt.Fprintf(&b, "%c: &%c [%s]\n", c, c, strings.TrimSuffix(strings.Repeat("*"+prev+",", 9), ","))
		prev = string(c)
	}
	b.WriteString("name: *i\n")
	return b.String()
}

func TestBillionLaughsRefused(t *testing.T) {
	_, err := Parse([]byte(BillionLaughs()), DefaultAliasNodes)
	var ae *AliasError
	if !errors.Is(err, ErrExcessiveAliasing) || !errors.As(err, &ae) || ae.Limit != DefaultAliasNodes {
		t.Fatalf("Parse(billion laughs) = %v, want an *AliasError with limit %d", err, DefaultAliasNodes)
	}
}

func TestModestSharingAccepted(t *testing.T) {
	doc := `
defaults: &d {vcpus: 1, ram: 512, disk: 1}
flavors:
  - {<<: *d, name: a}
  - {<<: *d, name: b}
rules: &r [22, 80, 443]
groups: [{rules: *r}, {rules: *r}]
`
	n, err := Parse([]byte(doc), 100)
	if err != nil || n.Kind != yaml.DocumentNode {
		t.Fatalf("Parse(modest aliases) = %v, %v; want the document", n, err)
	}
	// The same file with a budget below its real expansion is refused:
	// the count is of the expansion, not of the aliases.
	if _, err := Parse([]byte(doc), 5); !errors.Is(err, ErrExcessiveAliasing) {
		t.Fatalf("Parse with a budget of 5 = %v, want ErrExcessiveAliasing", err)
	}
}

func TestMultipleDocumentsRefused(t *testing.T) {
	_, err := Parse([]byte("name: a\n---\nname: b\n"), DefaultAliasNodes)
	var md *MultipleDocumentsError
	if !errors.As(err, &md) || !errors.Is(err, ErrMultipleDocuments) || md.Line != 2 {
		t.Fatalf("Parse(two documents) = %v, want a *MultipleDocumentsError at line 2 (its ---)", err)
	}
}

func TestEmptyIsZeroNode(t *testing.T) {
	for _, doc := range []string{"", "# only a comment\n"} {
		n, err := Parse([]byte(doc), DefaultAliasNodes)
		if err != nil || n.Kind != 0 {
			t.Errorf("Parse(%q) = kind %v, %v; want a zero node", doc, n.Kind, err)
		}
	}
}

func TestSyntaxErrorIsYAMLs(t *testing.T) {
	_, err := Parse([]byte("a: [1, 2\n"), DefaultAliasNodes)
	if err == nil || errors.Is(err, ErrMultipleDocuments) || errors.Is(err, ErrExcessiveAliasing) {
		t.Fatalf("Parse(broken) = %v, want yaml's syntax error", err)
	}
}

func TestAnchorContainingItselfRefused(t *testing.T) {
	_, err := Parse([]byte("a: &a [1, *a]\n"), DefaultAliasNodes)
	if err == nil {
		t.Fatal("Parse(&a [1, *a]) accepted a document that expands forever")
	}
}
