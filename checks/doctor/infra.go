package doctor

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"regexp"
	"strings"
	"time"

	"github.com/stacklab/stacklab/checks"
)

func (dr *doctor) infraChecks() []checks.Check {
	return []checks.Check{
		{ID: IDMariaDB, Title: "MariaDB accepts root's login and answers its queries",
			DependsOn: dr.deps(IDLabHost, UnitID("mariadb")), Run: dr.checkMariaDB},
		{ID: IDRabbitMQ, Title: "RabbitMQ answers AMQP and the lab user authenticates",
			DependsOn: dr.deps(IDLabHost, UnitID("rabbitmq-server")), Run: dr.checkRabbit},
		{ID: IDMemcached, Title: "memcached answers on the address Horizon uses",
			DependsOn: dr.deps(IDLabHost, UnitID("memcached")), Run: dr.checkMemcached},
	}
}

// deps drops the IDs of unit checks that are not in the list (a backend
// without that unit), keeping dependencies valid.
func (dr *doctor) deps(ids ...string) []string {
	units := map[string]bool{}
	for _, u := range dr.cfg.Units {
		units[UnitID(u)] = true
	}
	var out []string
	for _, id := range ids {
		if strings.HasPrefix(id, "unit-") && !units[id] {
			continue
		}
		out = append(out, id)
	}
	return out
}

func (dr *doctor) checkMariaDB(ctx context.Context) checks.Result {
	if r, ok := dr.notLab(); ok {
		return r
	}
	out, err := dr.mariadbConns(ctx)
	got := strings.TrimSpace(string(out))
	// The answer must be the one asked for: any output at all would also
	// pass a server that is up but not answering the query.
	if err != nil || !strings.HasPrefix(got, "max_connections\t") {
		ev := []string{"mysql: SHOW GLOBAL VARIABLES and STATUS as root over the unix socket"}
		if err != nil {
			ev = append(ev, "error: "+err.Error())
		}
		if got != "" {
			ev = append(ev, "output: "+firstLines(got, 3))
		}
		return checks.Failf("MariaDB does not answer", "systemctl restart mariadb; journalctl -u mariadb -n 50", ev...)
	}
	return checks.Pass("root's queries are answered", "mysql: SHOW GLOBAL VARIABLES and STATUS answered ("+firstLines(got, 1)+")")
}

func firstLines(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[:n]
	}
	return strings.Join(lines, " | ")
}

// rabbitUserRefused starts the rabbitmq check's summary when RabbitMQ
// refuses the lab's own account: Plan offers to set its password back.
const rabbitUserRefused = "RabbitMQ refuses the lab user "

// ErrAMQPAuth: RabbitMQ refused the credentials.
var ErrAMQPAuth = errors.New("amqp: authentication refused")

// AMQPLogin opens an AMQP 0-9-1 connection on conn as user/password (PLAIN)
// up to Connection.Tune, which the broker sends only after accepting the
// credentials, and returns the broker's product and version.
func AMQPLogin(conn net.Conn, user, password string) (string, error) {
	if _, err := conn.Write([]byte("AMQP\x00\x00\x09\x01")); err != nil {
		return "", fmt.Errorf("amqp: send header: %w", err)
	}
	r := bufio.NewReader(conn)
	class, method, payload, err := readMethod(r)
	if err != nil {
		return "", err
	}
	if class != 10 || method != 10 {
		return "", fmt.Errorf("amqp: expected connection.start, got %d.%d", class, method)
	}
	server := describeServer(payload)
	var b bytes.Buffer
	_ = binary.Write(&b, binary.BigEndian, uint16(10))
	_ = binary.Write(&b, binary.BigEndian, uint16(11))
	// client-properties: capabilities.authentication_failure_close, so that
	// a refused login is answered with connection.close at once. Without
	// it RabbitMQ closes the socket silently after a 3 s delay (its
	// brute-force guard), longer than doctor's probe: CI saw a refused
	// password reported as "i/o timeout".
	var caps bytes.Buffer
	shortstr(&caps, "authentication_failure_close")
	caps.WriteString("t\x01")
	var props bytes.Buffer
	shortstr(&props, "capabilities")
	props.WriteByte('F')
	_ = binary.Write(&props, binary.BigEndian, uint32(caps.Len()))
	props.Write(caps.Bytes())
	_ = binary.Write(&b, binary.BigEndian, uint32(props.Len()))
	b.Write(props.Bytes())
	shortstr(&b, "PLAIN")
	resp := "\x00" + user + "\x00" + password
	_ = binary.Write(&b, binary.BigEndian, uint32(len(resp)))
	b.WriteString(resp)
	shortstr(&b, "en_US")
	if err := writeFrame(conn, b.Bytes()); err != nil {
		return server, err
	}
	class, method, _, err = readMethod(r)
	switch {
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		// RabbitMQ closes the socket on a refused login.
		return server, ErrAMQPAuth
	case err != nil:
		return server, err
	case class == 10 && method == 30:
		return server, nil
	case class == 10 && method == 50:
		return server, ErrAMQPAuth
	}
	return server, fmt.Errorf("amqp: expected connection.tune, got %d.%d", class, method)
}

func shortstr(b *bytes.Buffer, s string) {
	b.WriteByte(byte(len(s)))
	b.WriteString(s)
}

func writeFrame(w io.Writer, payload []byte) error {
	var b bytes.Buffer
	b.WriteByte(1) // method frame
	_ = binary.Write(&b, binary.BigEndian, uint16(0))
	_ = binary.Write(&b, binary.BigEndian, uint32(len(payload)))
	b.Write(payload)
	b.WriteByte(0xCE)
	_, err := w.Write(b.Bytes())
	if err != nil {
		return fmt.Errorf("amqp: write: %w", err)
	}
	return nil
}

// readMethod reads one method frame; other frame types are skipped.
func readMethod(r *bufio.Reader) (class, method uint16, payload []byte, err error) {
	for {
		var hdr [7]byte
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			return 0, 0, nil, fmt.Errorf("amqp: read frame: %w", err)
		}
		if string(hdr[:4]) == "AMQP" {
			return 0, 0, nil, errors.New("amqp: broker refused protocol version 0-9-1")
		}
		size := binary.BigEndian.Uint32(hdr[3:7])
		if size > 1<<20 {
			return 0, 0, nil, fmt.Errorf("amqp: frame of %d bytes: not an AMQP broker?", size)
		}
		body := make([]byte, size+1)
		if _, err := io.ReadFull(r, body); err != nil {
			return 0, 0, nil, fmt.Errorf("amqp: read frame: %w", err)
		}
		if body[size] != 0xCE {
			return 0, 0, nil, errors.New("amqp: bad frame end: not an AMQP broker?")
		}
		if hdr[0] != 1 || size < 4 {
			continue
		}
		return binary.BigEndian.Uint16(body[0:2]), binary.BigEndian.Uint16(body[2:4]), body[4:size], nil
	}
}

// describeServer pulls product and version out of connection.start's
// server-properties, best effort.
func describeServer(payload []byte) string {
	s := string(payload)
	var out []string
	for _, key := range []string{"product", "version"} {
		i := strings.Index(s, key+"S")
		if i < 0 || i+len(key)+5 > len(s) {
			continue
		}
		j := i + len(key) + 1
		n := int(binary.BigEndian.Uint32([]byte(s[j : j+4])))
		if j+4+n <= len(s) {
			out = append(out, s[j+4:j+4+n])
		}
	}
	return strings.Join(out, " ")
}

func (dr *doctor) checkRabbit(ctx context.Context) checks.Result {
	if r, ok := dr.notLab(); ok {
		return r
	}
	addr := dr.cfg.RabbitAddr
	ctx, cancel := context.WithTimeout(ctx, dr.cfg.probe())
	defer cancel()
	conn, err := dr.d.dial(ctx, addr)
	if err != nil {
		return checks.Failf("RabbitMQ does not accept connections on "+addr,
			"systemctl restart rabbitmq-server; journalctl -u rabbitmq-server -n 50", "dial "+addr+": "+err.Error())
	}
	defer func() { _ = conn.Close() }()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	server, err := AMQPLogin(conn, dr.cfg.RabbitUser, dr.cfg.RabbitPassword.Reveal())
	ev := []string{"AMQP 0-9-1 on " + addr + " as " + dr.cfg.RabbitUser}
	if server != "" {
		ev = append(ev, "broker: "+server)
	}
	switch {
	case errors.Is(err, ErrAMQPAuth):
		// Not install: it sets the password once (a marker), so a password
		// changed in RabbitMQ since then stays changed.
		return checks.Failf(rabbitUserRefused+dr.cfg.RabbitUser,
			"rabbitmqctl change_password "+dr.cfg.RabbitUser+" and type the password of the services' transport_url "+
				"(it reads it from its standard input, off the command line) (or: stacklab doctor --fix)", ev...)
	case err != nil:
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return checks.Failf("RabbitMQ accepts TCP on "+addr+" but never answers",
				"systemctl restart rabbitmq-server", append(ev, err.Error())...)
		}
		return checks.Failf("RabbitMQ does not speak AMQP on "+addr, "systemctl restart rabbitmq-server", append(ev, err.Error())...)
	}
	return checks.Pass("the lab user logs in on "+addr, ev...)
}

// MemcachedStats sends `stats` and returns how many STAT lines came back.
func MemcachedStats(conn net.Conn) (int, error) {
	if _, err := io.WriteString(conn, "stats\r\n"); err != nil {
		return 0, fmt.Errorf("memcached: %w", err)
	}
	sc := bufio.NewScanner(conn)
	n := 0
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "END":
			if n == 0 {
				return 0, errors.New("memcached: empty stats")
			}
			return n, nil
		case strings.HasPrefix(line, "STAT "):
			n++
		default:
			return n, fmt.Errorf("memcached: unexpected answer %q", line)
		}
	}
	if err := sc.Err(); err != nil {
		return n, fmt.Errorf("memcached: %w", err)
	}
	return n, errors.New("memcached: connection closed before END")
}

var (
	cachesAssignRE   = regexp.MustCompile(`(?m)^CACHES\s*=\s*\{`)
	cacheLocationRE  = regexp.MustCompile(`['"]LOCATION['"]\s*:\s*['"]([^'"]+)['"]`)
	cacheBackendRE   = regexp.MustCompile(`['"]BACKEND['"]\s*:\s*['"]([^'"]+)['"]`)
	pythonCommentsRE = regexp.MustCompile(`(?m)^\s*#.*$`)
)

// HorizonCache reads the CACHES setting of one Horizon settings file as
// Python would: the last assignment wins and comments do not count
// (Debian's local_settings.py carries a commented example whose LOCATION
// is 127.0.0.1:11211). set is false when the file assigns no CACHES.
func HorizonCache(data []byte) (backend, location string, set bool) {
	text := pythonCommentsRE.ReplaceAll(data, nil)
	all := cachesAssignRE.FindAllIndex(text, -1)
	if len(all) == 0 {
		return "", "", false
	}
	start := all[len(all)-1][1] - 1 // the opening brace
	depth, end := 0, len(text)
	for i := start; i < len(text); i++ {
		switch text[i] {
		case '{':
			depth++
		case '}':
			depth--
		}
		if depth == 0 {
			end = i + 1
			break
		}
	}
	block := text[start:end]
	if m := cacheBackendRE.FindSubmatch(block); m != nil {
		backend = string(m[1])
	}
	if m := cacheLocationRE.FindSubmatch(block); m != nil {
		location = strings.TrimPrefix(string(m[1]), "unix:")
	}
	return backend, location, true
}

// horizonCacheAddr is the memcached address Horizon's settings name (the
// last file that sets CACHES wins, as in Horizon), or fallback; note says
// where it came from, or that Horizon keeps its cache elsewhere.
func (dr *doctor) horizonCacheAddr(fallback string) (addr, note string) {
	addr, note = fallback, "default"
	if dr.d.Host == nil {
		return addr, note
	}
	for _, f := range HorizonSettingsFiles {
		b, err := dr.d.Host.ReadFile(f)
		if err != nil {
			continue
		}
		backend, loc, set := HorizonCache(b)
		switch {
		case !set:
		case loc != "" && (backend == "" || strings.Contains(strings.ToLower(backend), "memcache")):
			addr, note = loc, f
		default:
			// Debian's _0006_debian_cache.py: LocMemCache, no memcached.
			addr, note = fallback, "Horizon's cache is "+backend+" in "+f+", not memcached; keystone's address"
		}
	}
	return addr, note
}

// HorizonSettingsFiles in the order Horizon reads them.
var HorizonSettingsFiles = []string{
	"/etc/openstack-dashboard/local_settings.py",
	"/etc/openstack-dashboard/local_settings.d/_0006_debian_cache.py",
}

func (dr *doctor) checkMemcached(ctx context.Context) checks.Result {
	if r, ok := dr.notLab(); ok {
		return r
	}
	addr, from := dr.horizonCacheAddr(net.JoinHostPort(dr.cfg.MgmtIP, "11211"))
	ev := []string{"address " + addr + " (from " + from + ")"}
	ctx, cancel := context.WithTimeout(ctx, dr.cfg.probe())
	defer cancel()
	conn, err := dr.d.dial(ctx, addr)
	if err != nil {
		whose := " (keystone's token cache)"
		if strings.HasPrefix(from, "/") {
			whose = " (Horizon's sessions live there)"
		}
		return checks.Failf("memcached does not accept connections on "+addr+whose,
			"restore '-l 127.0.0.1,"+dr.cfg.MgmtIP+"' in /etc/memcached.conf and systemctl restart memcached (or: stacklab doctor --fix)",
			append(ev, err.Error())...)
	}
	defer func() { _ = conn.Close() }()
	_ = conn.SetDeadline(time.Now().Add(dr.cfg.probe()))
	n, err := MemcachedStats(conn)
	if err != nil {
		return checks.Failf("memcached on "+addr+" does not answer stats", "systemctl restart memcached", append(ev, err.Error())...)
	}
	return checks.Pass(fmt.Sprintf("stats answered on %s (%d values)", addr, n), ev...)
}
