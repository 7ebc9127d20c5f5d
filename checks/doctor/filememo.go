package doctor

import (
	"sync"
)

// fileMemo reads each file at most once per run: several checks read the
// same configuration (nova.conf for virt_type, region and RabbitMQ logins;
// Horizon's settings for memcached, keystone's URL and the address), and a
// healthy run should cost one read of each. A file is not expected to
// change during one run; --fix's re-checks are new runs with a new memo.
type fileMemo struct {
	Host
	mu    sync.Mutex
	files map[string]fileRead
}

type fileRead struct {
	b   []byte
	err error
}

func memoHost(h Host) Host {
	if h == nil {
		return nil
	}
	return &fileMemo{Host: h, files: map[string]fileRead{}}
}

func (m *fileMemo) ReadFile(path string) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if r, ok := m.files[path]; ok {
		return r.b, r.err
	}
	b, err := m.Host.ReadFile(path)
	m.files[path] = fileRead{b, err}
	return b, err
}
