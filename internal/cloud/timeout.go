package cloud

import (
	"context"
	"errors"
	"net"
)

// TimedOut tells whether a request failed by running out of time rather
// than being refused or reset. Against a service on the lab's own
// addresses, where a connection is accepted or refused at once, that is a
// service that accepted and never answered: hung, not down.
func TimedOut(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout() || errors.Is(err, context.DeadlineExceeded)
}
