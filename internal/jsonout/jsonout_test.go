package jsonout

import (
	"bytes"
	"strings"
	"testing"
)

func TestWriteIsOneIndentedDocument(t *testing.T) {
	var b bytes.Buffer
	if err := Write(&b, map[string]any{"ok": true, "steps": []string{"a"}}); err != nil {
		t.Fatal(err)
	}
	if want := "{\n  \"ok\": true,\n  \"steps\": [\n    \"a\"\n  ]\n}\n"; b.String() != want {
		t.Errorf("got %q, want %q", b.String(), want)
	}
	if err := Write(&b, func() {}); err == nil || !strings.Contains(err.Error(), "write json") {
		t.Errorf("an unencodable value: err = %v", err)
	}
}
