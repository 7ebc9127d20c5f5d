package fix_test

import (
	"errors"
	"fmt"
	"io/fs"
	"testing"

	"github.com/stacklab/stacklab/internal/fix"
)

type own struct{}

func (own) Error() string { return "unit down; fix: systemctl start it" }
func (own) Fix() string   { return "systemctl start it" }

func TestWrapKeepsTheRemedyNearestTheCause(t *testing.T) {
	inner := fix.Wrap(fs.ErrNotExist, "create the file")
	outer := fix.Wrap(fmt.Errorf("read config: %w", inner), "run stacklab install")
	if got := fix.Of(outer); got != "create the file" {
		t.Errorf("Of = %q, want the inner remedy", got)
	}
	if !errors.Is(outer, fs.ErrNotExist) {
		t.Error("the cause is lost to errors.Is")
	}
	if fix.Wrap(nil, "x") != nil || fix.Wrapf(nil, "%s", "x") != nil {
		t.Error("a nil error came back as an error")
	}
}

func TestMessage(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"no remedy", errors.New("boom"), "boom"},
		{"wrapped", fix.Errorf("free some space", "disk %s is full", "/var"), "disk /var is full\n  fix: free some space"},
		{"formatted", fix.Wrapf(errors.New("no lab"), "run stacklab %s", "install"), "no lab\n  fix: run stacklab install"},
		{"renders its own", fmt.Errorf("start: %w", own{}), "start: unit down; fix: systemctl start it"},
		{"blank remedy", fix.Wrap(errors.New("boom"), "  "), "boom"},
	} {
		if got := fix.Message(tc.err); got != tc.want {
			t.Errorf("%s: Message = %q, want %q", tc.name, got, tc.want)
		}
	}
}
