package main

import (
	"errors"

	"github.com/stacklab/stacklab/internal/lock"
)

// lockLab takes the one lock of every command that changes the lab or the
// cloud; what names the command in the lock file ("stacklab services
// restart") so that a command refused can say who holds it. A held lock is
// a failure (exit 1), not a usage error. Call release when done.
func (e *env) lockLab(what string) (release func(), err error) {
	l, err := lock.Acquire(e.lockPath, what)
	var le *lock.LockedError
	if errors.As(err, &le) {
		return nil, &failure{code: exitFailed, err: err}
	}
	if err != nil {
		return nil, err
	}
	return func() { _ = l.Release() }, nil
}
