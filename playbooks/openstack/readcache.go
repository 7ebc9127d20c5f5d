package openstack

import (
	"context"
	"sync"
)

// readCache shares reads between the Gets of one plan: the plan reads
// every declared resource at once, and a subnet, a router, a server and a
// floating IP each want the network list to name their references. With
// it, each distinct read is one request per plan, however many resources
// ask, and concurrent askers wait for the one request in flight.
//
// It lives only in the context the plan's reads run under (CachedReads):
// a converge's read before a write, and the verify after it, always go to
// the cloud, so something changed behind the plan's back is still seen
// where it would lead to a wrong write. The plan itself writes nothing, so
// nothing in the cache can be made stale by the run's own changes.
type readCache struct {
	mu    sync.Mutex
	calls map[string]*readCall
}

type readCall struct {
	done chan struct{}
	v    any
	err  error
}

type readCacheKey struct{}

// CachedReads returns ctx under which this cloud's reads are shared
// (playbooks.ReadSharer).
func (c *Cloud) CachedReads(ctx context.Context) context.Context {
	return context.WithValue(ctx, readCacheKey{}, &readCache{calls: map[string]*readCall{}})
}

// sharingReads tells whether ctx shares reads, so a finder may list a
// whole collection once instead of filtering by name per resource.
func sharingReads(ctx context.Context) bool {
	_, ok := ctx.Value(readCacheKey{}).(*readCache)
	return ok
}

// cachedRead runs read once per key under a sharing ctx, and every time
// otherwise. The value is shared: callers must not modify it.
func cachedRead[T any](ctx context.Context, key string, read func() (T, error)) (T, error) {
	rc, ok := ctx.Value(readCacheKey{}).(*readCache)
	if !ok {
		return read()
	}
	rc.mu.Lock()
	call, found := rc.calls[key]
	if !found {
		call = &readCall{done: make(chan struct{})}
		rc.calls[key] = call
	}
	rc.mu.Unlock()
	if !found {
		call.v, call.err = read()
		close(call.done)
	} else {
		select {
		case <-call.done:
		case <-ctx.Done():
			var zero T
			return zero, ctx.Err()
		}
	}
	v, _ := call.v.(T)
	return v, call.err
}
