package doctor

import (
	"sync"

	"github.com/stacklab/stacklab/installer/inifile"
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
	inis  map[string]*inifile.File
}

type fileRead struct {
	b   []byte
	err error
}

func memoHost(h Host) Host {
	if h == nil {
		return nil
	}
	return &fileMemo{Host: h, files: map[string]fileRead{}, inis: map[string]*inifile.File{}}
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
	m.mu.Lock()
	defer m.mu.Unlock()
	f, ok := m.inis[path]
	if !ok {
		f = inifile.Parse(b)
		m.inis[path] = f
	}
	return f, nil
}
