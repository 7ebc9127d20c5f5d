package doctor

import (
	"context"
	"sync"

	"github.com/stacklab/stacklab/installer/inifile"
)

// fileMemo reads each file at most once per run: several checks read the
// same configuration (nova.conf for virt_type, region and RabbitMQ logins;
// Horizon's settings for memcached, keystone's URL and the address), and a
// healthy run should cost one read of each. A file is not expected to
// change during one run; --fix's re-checks are new runs with a new memo.
// Each file has its own entry, so checks reading or parsing different
// files do not wait for each other (nova.conf is 10,000 lines to parse).
type fileMemo struct {
	Host
	mu    sync.Mutex
	files map[string]*memo[[]byte]
	inis  map[string]*memo[*inifile.File]
}

func memoHost(h Host) Host {
	if h == nil {
		return nil
	}
	return &fileMemo{Host: h, files: map[string]*memo[[]byte]{}, inis: map[string]*memo[*inifile.File]{}}
}

// entry is m[key], made on first use under the memo's lock.
func entry[T any](mu *sync.Mutex, m map[string]*T, key string) *T {
	mu.Lock()
	defer mu.Unlock()
	e, ok := m[key]
	if !ok {
		e = new(T)
		m[key] = e
	}
	return e
}

func (m *fileMemo) ReadFile(path string) ([]byte, error) {
	return entry(&m.mu, m.files, path).get(context.Background(), func(context.Context) ([]byte, error) {
		return m.Host.ReadFile(path)
	})
}

// readINI reads and parses an oslo.config file, once per run where h is
// the run's memo: the region and RabbitMQ checks ask the same files
// (nova.conf is 10,000 lines). A parsed File is only read afterwards, so
// checks running side by side can share it.
func readINI(h Host, path string) (*inifile.File, error) {
	b, err := h.ReadFile(path)
	if err != nil {
		return nil, err
	}
	m, ok := h.(*fileMemo)
	if !ok {
		return inifile.Parse(b), nil
	}
	return entry(&m.mu, m.inis, path).get(context.Background(), func(context.Context) (*inifile.File, error) {
		return inifile.Parse(b), nil
	})
}
