// Package yamlguard parses user-written YAML into a node tree with the
// limits yaml itself does not apply to one: go.yaml.in/yaml/v3 bounds alias
// expansion only while decoding into Go values, and a yaml.Node keeps its
// aliases as pointers, so the cost of "billion laughs" (nested aliases, 45
// KB expanding to billions of nodes) lands on whichever code walks the tree
// following them. Parse counts that expansion first, in time linear in the
// file, and refuses a document past a budget before anyone walks it.
package yamlguard

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	"go.yaml.in/yaml/v3"
)

// DefaultAliasNodes is a budget far above any hand-written file's sharing
// (a few anchors reused a few times) and far below what costs memory.
const DefaultAliasNodes = 100_000

var (
	// ErrMultipleDocuments: a file holds a second document ("---"), which
	// every caller would silently ignore.
	ErrMultipleDocuments = errors.New("more than one YAML document")
	// ErrExcessiveAliasing: aliases expand past the budget.
	ErrExcessiveAliasing = errors.New("YAML aliases expand too far")
)

// MultipleDocumentsError is ErrMultipleDocuments with where the second
// document starts.
type MultipleDocumentsError struct{ Line int }

func (e *MultipleDocumentsError) Error() string {
	return fmt.Sprintf("line %d: %v; keep a single one", e.Line, ErrMultipleDocuments)
}

func (e *MultipleDocumentsError) Unwrap() error { return ErrMultipleDocuments }

// AliasError is ErrExcessiveAliasing with the budget that was exceeded, or
// an alias found inside its own anchor (infinite expansion).
type AliasError struct {
	Limit  int
	Anchor string // set for an anchor that contains itself
	Line   int
}

func (e *AliasError) Error() string {
	if e.Anchor != "" {
		return fmt.Sprintf("line %d: %v: anchor %q contains itself", e.Line, ErrExcessiveAliasing, e.Anchor)
	}
	return fmt.Sprintf("%v: more than %d nodes reached through aliases; write the values out or share less", ErrExcessiveAliasing, e.Limit)
}

func (e *AliasError) Unwrap() error { return ErrExcessiveAliasing }

// Parse decodes data as at most one YAML document. It returns the document
// node, or a zero Node (Kind 0) for an empty file or one of only comments.
// A syntax error is yaml's own, which names the line. aliasNodes bounds how
// many nodes may be reached through aliases beyond those written out.
func Parse(data []byte, aliasNodes int) (*yaml.Node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return &yaml.Node{}, nil
		}
		return nil, err
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		// A syntax error in a second document is still a second document.
		return nil, &MultipleDocumentsError{Line: max(extra.Line, 1)}
	}
	if err := CheckAliases(&doc, aliasNodes); err != nil {
		return nil, err
	}
	return &doc, nil
}

// CheckAliases refuses a tree in which following every alias reaches more
// than limit nodes beyond the ones written out. Each node's expanded size
// is computed once, so the check costs the written size, not the expanded
// one.
func CheckAliases(root *yaml.Node, limit int) error {
	c := counter{memo: map[*yaml.Node]int{}, open: map[*yaml.Node]bool{}, cap: 0}
	written := c.written(root, map[*yaml.Node]bool{})
	c.cap = written + limit + 1
	expanded, err := c.expanded(root)
	if err != nil {
		return err
	}
	if expanded-written > limit {
		return &AliasError{Limit: limit}
	}
	return nil
}

type counter struct {
	memo map[*yaml.Node]int
	open map[*yaml.Node]bool
	cap  int // counts saturate here: enough to know the budget is gone
}

// written counts the nodes as they appear in the file, aliases as one.
func (c *counter) written(n *yaml.Node, seen map[*yaml.Node]bool) int {
	if n == nil || seen[n] {
		return 0
	}
	seen[n] = true
	total := 1
	if n.Kind == yaml.AliasNode {
		return total
	}
	for _, ch := range n.Content {
		total += c.written(ch, seen)
	}
	return total
}

func (c *counter) expanded(n *yaml.Node) (int, error) {
	if n == nil {
		return 0, nil
	}
	if v, ok := c.memo[n]; ok {
		return v, nil
	}
	if c.open[n] {
		return 0, &AliasError{Anchor: n.Anchor, Line: n.Line}
	}
	c.open[n] = true
	defer delete(c.open, n)
	total := 1
	if n.Kind == yaml.AliasNode {
		v, err := c.expanded(n.Alias)
		if err != nil {
			return 0, err
		}
		total = v
	}
	for _, ch := range n.Content {
		v, err := c.expanded(ch)
		if err != nil {
			return 0, err
		}
		total = min(total+v, c.cap)
	}
	c.memo[n] = total
	return total, nil
}
