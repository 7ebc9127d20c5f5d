// Package fix is stacklab's one notion of a remedy: the command to run or
// the edit to make that gets the user past a failure. A check's Result
// carries one in its Fix field; an error carries one by implementing
// Fixer, most often through Wrap. Every command prints it the same way,
// on a line of its own under the cause (Line).
package fix

import (
	"errors"
	"fmt"
	"strings"
)

// Fixer is an error that knows the user's remedy.
type Fixer interface{ Fix() string }

type wrapped struct {
	err error
	fix string
}

func (w *wrapped) Error() string { return w.err.Error() }
func (w *wrapped) Unwrap() error { return w.err }
func (w *wrapped) Fix() string   { return w.fix }

// Wrap gives err a remedy. An error that already names one keeps it: the
// remedy found nearest the cause is the most precise. A nil err stays nil.
func Wrap(err error, remedy string) error {
	if err == nil {
		return nil
	}
	if Of(err) != "" {
		return err
	}
	return &wrapped{err: err, fix: remedy}
}

// Wrapf is Wrap with the remedy formatted.
func Wrapf(err error, format string, a ...any) error {
	if err == nil {
		return nil
	}
	return Wrap(err, fmt.Sprintf(format, a...))
}

// Errorf makes an error from format and a with the given remedy.
func Errorf(remedy, format string, a ...any) error {
	return &wrapped{err: fmt.Errorf(format, a...), fix: remedy}
}

// Of returns the remedy of the first error in err's chain that has one,
// or "".
func Of(err error) string {
	var f Fixer
	if errors.As(err, &f) {
		return f.Fix()
	}
	return ""
}

// Line renders a remedy under a message ("\n  fix: ..."), or "" when
// there is none.
func Line(remedy string) string {
	if strings.TrimSpace(remedy) == "" {
		return ""
	}
	return "\n  fix: " + remedy
}

// Message is err's text followed by its remedy's Line, unless the text
// already carries it (an error that renders its own).
func Message(err error) string {
	msg := err.Error()
	if r := Of(err); r != "" && !strings.Contains(msg, r) {
		msg += Line(r)
	}
	return msg
}
