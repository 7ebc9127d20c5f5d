package systemd

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	sddbus "github.com/coreos/go-systemd/v22/dbus"
	"github.com/godbus/dbus/v5"
)

// journalLines is how much of a failed unit's journal a JobError carries:
// enough for a Python traceback's tail, short enough for a terminal.
const journalLines = 20

// Client talks to one systemd instance. It is safe for concurrent use.
type Client struct {
	conn *sddbus.Conn
	run  Runner
}

// Option configures a Client.
type Option func(*Client)

// WithJournalRunner replaces how journalctl is run (default ExecRunner).
func WithJournalRunner(r Runner) Option {
	return func(c *Client) { c.run = r }
}

func newClient(conn *sddbus.Conn, opts []Option) (*Client, error) {
	c := &Client{conn: conn, run: ExecRunner}
	for _, o := range opts {
		o(c)
	}
	// On the system bus systemd emits JobRemoved, which job waits on, only
	// while some client is subscribed; on the private socket always.
	if err := conn.Subscribe(); err != nil {
		conn.Close()
		return nil, fmt.Errorf("systemd: subscribe to job signals: %w", err)
	}
	return c, nil
}

// Connect reaches the system's systemd: its private socket first (root,
// works without a D-Bus daemon, e.g. early in a lab host's life), then the
// system bus.
func Connect(ctx context.Context, opts ...Option) (*Client, error) {
	return bounded(ctx, func() (*Client, error) {
		conn, errPrivate := sddbus.NewSystemdConnectionContext(context.Background())
		if errPrivate == nil {
			return newClient(conn, opts)
		}
		conn, errBus := sddbus.NewSystemConnectionContext(context.Background())
		if errBus != nil {
			return nil, fmt.Errorf("systemd: connect: private socket: %w; system bus: %w", errPrivate, errBus)
		}
		return newClient(conn, opts)
	})
}

// bounded runs connect under ctx. The context is not handed to godbus:
// there it would close the connection when ctx ends, and callers rightly
// cancel a connect timeout as soon as Connect returns.
func bounded(ctx context.Context, connect func() (*Client, error)) (*Client, error) {
	type result struct {
		c   *Client
		err error
	}
	ch := make(chan result, 1)
	go func() {
		c, err := connect()
		ch <- result{c, err}
	}()
	select {
	case r := <-ch:
		return r.c, r.err
	case <-ctx.Done():
		go func() {
			if r := <-ch; r.c != nil {
				r.c.Close()
			}
		}()
		return nil, fmt.Errorf("systemd: connect: %w", ctx.Err())
	}
}

// ConnectPath reaches a systemd through its private socket at socketPath.
// Authenticates as this process's uid (EXTERNAL), so only root is let in.
// systemd also refuses a connection whose peer process lies outside its
// PID namespace; a systemd booted in other namespaces is reached with
// ConnectBusPath instead.
func ConnectPath(ctx context.Context, socketPath string, opts ...Option) (*Client, error) {
	return connectSocket(ctx, socketPath, false, opts)
}

// ConnectBusPath reaches a systemd through the D-Bus system bus socket at
// socketPath, e.g. /proc/PID/root/run/dbus/system_bus_socket for a
// systemd booted in other PID and mount namespaces (dbus-daemon accepts
// peers it cannot see; systemd's private socket does not).
func ConnectBusPath(ctx context.Context, socketPath string, opts ...Option) (*Client, error) {
	return connectSocket(ctx, socketPath, true, opts)
}

func connectSocket(ctx context.Context, socketPath string, hello bool, opts []Option) (*Client, error) {
	dial := func() (*dbus.Conn, error) {
		conn, err := dbus.Dial("unix:path=" + escapeAddress(socketPath))
		if err != nil {
			return nil, err
		}
		if err := conn.Auth([]dbus.Auth{dbus.AuthExternal(strconv.Itoa(os.Getuid()))}); err != nil {
			conn.Close()
			return nil, err
		}
		// A direct connection to systemd has no bus daemon to greet.
		if hello {
			if err := conn.Hello(); err != nil {
				conn.Close()
				return nil, err
			}
		}
		return conn, nil
	}
	return bounded(ctx, func() (*Client, error) {
		conn, err := sddbus.NewConnection(dial)
		if err != nil {
			return nil, fmt.Errorf("systemd: connect %s: %w", socketPath, err)
		}
		return newClient(conn, opts)
	})
}

// escapeAddress escapes a D-Bus address value (D-Bus spec, "Server
// Addresses"): bytes outside [-0-9A-Za-z_/.\*] become %XX.
func escapeAddress(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		ch := s[i]
		switch {
		case ch >= '0' && ch <= '9', ch >= 'a' && ch <= 'z', ch >= 'A' && ch <= 'Z',
			ch == '-', ch == '_', ch == '/', ch == '.', ch == '\\', ch == '*':
			b.WriteByte(ch)
		default:
			fmt.Fprintf(&b, "%%%02x", ch)
		}
	}
	return b.String()
}

// Close releases the connection.
func (c *Client) Close() { c.conn.Close() }

// States reads the units' states in the order given. A unit without a
// unit file is reported with LoadState "not-found", not as an error.
func (c *Client) States(ctx context.Context, units ...string) ([]UnitState, error) {
	names, err := normalizeAll(units)
	if err != nil {
		return nil, err
	}
	// One call answers every unit's load, active and sub state and its
	// primary name; each unit's few other properties are read one by
	// one. Reading all of a unit's properties (GetAll, about a hundred)
	// cost systemd and doctor about 2 ms of CPU per unit, a tenth of a
	// healthy doctor run on 2 cores.
	list, err := c.conn.ListUnitsByNamesContext(ctx, names)
	if err != nil {
		return nil, fmt.Errorf("systemd: list units %s: %w", strings.Join(names, " "), classify(err))
	}
	if len(list) != len(names) {
		return nil, fmt.Errorf("systemd: asked for %d units, got %d", len(names), len(list))
	}
	// The connection carries concurrent calls, so all are in flight at once.
	out := make([]UnitState, len(names))
	errs := make([]error, len(names))
	var wg sync.WaitGroup
	for i, u := range names {
		wg.Go(func() { out[i], errs[i] = c.state(ctx, u, list[i]) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// state completes a unit's listed state with the properties the listing
// lacks: its unit file's state, when it entered its active state, and
// its type's result and main process.
func (c *Client) state(ctx context.Context, unit string, st sddbus.UnitStatus) (UnitState, error) {
	props := map[string]any{"Id": st.Name, "LoadState": st.LoadState, "ActiveState": st.ActiveState, "SubState": st.SubState}
	for _, name := range []string{"UnitFileState", sinceKey(st.ActiveState)} {
		p, err := c.conn.GetUnitPropertyContext(ctx, unit, name)
		if err != nil {
			return UnitState{}, fmt.Errorf("systemd: %s of %s: %w", name, unit, classify(err))
		}
		props[name] = p.Value.Value()
	}
	var typed map[string]any
	if iface := typeInterface(unit); iface != "" && st.LoadState == "loaded" {
		// A unit that failed to load has no type properties; its
		// LoadState already says everything.
		typed = map[string]any{}
		for _, name := range []string{"Result", "MainPID"} {
			if name == "MainPID" && iface != "Service" {
				continue
			}
			p, err := c.conn.GetUnitTypePropertyContext(ctx, unit, iface, name)
			if err != nil {
				return UnitState{}, fmt.Errorf("systemd: %s of %s: %w", name, unit, classify(err))
			}
			typed[name] = p.Value.Value()
		}
	}
	return stateFromProps(unit, props, typed), nil
}

// Units lists the names of units systemd has loaded that match the glob
// patterns (all loaded units when none are given).
func (c *Client) Units(ctx context.Context, patterns ...string) ([]string, error) {
	st, err := c.conn.ListUnitsByPatternsContext(ctx, nil, patterns)
	if err != nil {
		return nil, fmt.Errorf("systemd: list units %v: %w", patterns, err)
	}
	names := make([]string, 0, len(st))
	for _, s := range st {
		names = append(names, s.Name)
	}
	return names, nil
}

type jobCall func(ctx context.Context, name, mode string, ch chan<- string) (int, error)

// Start starts the unit and waits until systemd has finished the job.
func (c *Client) Start(ctx context.Context, unit string) error {
	return c.job(ctx, "start", unit, c.conn.StartUnitContext)
}

// Stop stops the unit and waits; stopping a stopped unit succeeds.
func (c *Client) Stop(ctx context.Context, unit string) error {
	return c.job(ctx, "stop", unit, c.conn.StopUnitContext)
}

// Restart restarts the unit (starting it if it was stopped) and waits.
func (c *Client) Restart(ctx context.Context, unit string) error {
	return c.job(ctx, "restart", unit, c.conn.RestartUnitContext)
}

// TryRestart restarts the unit only if it is running, and waits.
func (c *Client) TryRestart(ctx context.Context, unit string) error {
	return c.job(ctx, "try-restart", unit, c.conn.TryRestartUnitContext)
}

// job queues a job in "replace" mode (what systemctl does) and waits for
// its JobRemoved result. If ctx ends first the job stays queued in
// systemd, as when systemctl is interrupted.
func (c *Client) job(ctx context.Context, op, unit string, call jobCall) error {
	u, err := normalize(unit)
	if err != nil {
		return err
	}
	// Buffered: go-systemd delivers results while holding its listener
	// lock, so an abandoned unbuffered channel would wedge the connection.
	ch := make(chan string, 1)
	if _, err := call(ctx, u, "replace", ch); err != nil {
		return fmt.Errorf("systemd: %s %s: %w", op, u, classify(err))
	}
	select {
	case result := <-ch:
		if result == "done" {
			return nil
		}
		return c.jobError(ctx, op, u, result)
	case <-ctx.Done():
		return fmt.Errorf("systemd: %s %s: waiting for job: %w", op, u, ctx.Err())
	}
}

func (c *Client) jobError(ctx context.Context, op, unit, result string) error {
	e := &JobError{Op: op, Unit: unit, Result: result}
	if st, err := c.States(ctx, unit); err == nil {
		e.UnitResult = st[0].Result
	}
	if wantsJournal(op, result) {
		c.syncJournal(ctx)
		e.Journal, e.JournalErr = c.JournalTail(ctx, unit, journalLines)
	}
	return e
}

// wantsJournal: only a unit that ran and failed has journal lines that
// explain it; a "dependency" result points at another unit, and a failed
// stop is rarely explained by the service's own output.
func wantsJournal(op, result string) bool {
	if op == "stop" {
		return false
	}
	return result == "failed" || result == "timeout"
}

// Enable enables the units persistently (symlinks in /etc per their
// [Install] sections) and reloads systemd. Enabling does not start.
func (c *Client) Enable(ctx context.Context, units ...string) error {
	names, err := normalizeAll(units)
	if err != nil {
		return err
	}
	if _, _, err := c.conn.EnableUnitFilesContext(ctx, names, false, false); err != nil {
		return fmt.Errorf("systemd: enable %s: %w", strings.Join(names, " "), classify(err))
	}
	return c.DaemonReload(ctx)
}

// Disable removes the units' enablement symlinks and reloads systemd.
// Disabling does not stop.
func (c *Client) Disable(ctx context.Context, units ...string) error {
	names, err := normalizeAll(units)
	if err != nil {
		return err
	}
	if _, err := c.conn.DisableUnitFilesContext(ctx, names, false); err != nil {
		return fmt.Errorf("systemd: disable %s: %w", strings.Join(names, " "), classify(err))
	}
	return c.DaemonReload(ctx)
}

// Mask masks the units until Unmask or the next boot (runtime mask in
// /run/systemd/system, see the package doc for why) and reloads systemd.
// Units need not be installed yet. Masking does not stop a running unit.
func (c *Client) Mask(ctx context.Context, units ...string) error {
	names, err := normalizeAll(units)
	if err != nil {
		return err
	}
	if _, err := c.conn.MaskUnitFilesContext(ctx, names, true, false); err != nil {
		return fmt.Errorf("systemd: mask %s: %w", strings.Join(names, " "), classify(err))
	}
	return c.DaemonReload(ctx)
}

// Unmask removes runtime masks set by Mask and reloads systemd. A mask an
// administrator put in /etc is left alone.
func (c *Client) Unmask(ctx context.Context, units ...string) error {
	names, err := normalizeAll(units)
	if err != nil {
		return err
	}
	if _, err := c.conn.UnmaskUnitFilesContext(ctx, names, true); err != nil {
		return fmt.Errorf("systemd: unmask %s: %w", strings.Join(names, " "), classify(err))
	}
	return c.DaemonReload(ctx)
}

// DaemonReload makes systemd re-read unit files; it returns once the
// reload is complete.
func (c *Client) DaemonReload(ctx context.Context) error {
	if err := c.conn.ReloadContext(ctx); err != nil {
		return fmt.Errorf("systemd: daemon-reload: %w", err)
	}
	return nil
}

// ResetFailed clears the failed state (and start-rate limit) of the units,
// or of every failed unit when none are given.
func (c *Client) ResetFailed(ctx context.Context, units ...string) error {
	names, err := normalizeAll(units)
	if err != nil {
		return err
	}
	if len(names) == 0 {
		failed, err := c.conn.ListUnitsFilteredContext(ctx, []string{"failed"})
		if err != nil {
			return fmt.Errorf("systemd: list failed units: %w", err)
		}
		for _, f := range failed {
			names = append(names, f.Name)
		}
	}
	var errs []error
	for _, u := range names {
		if err := c.conn.ResetFailedUnitContext(ctx, u); err != nil {
			errs = append(errs, fmt.Errorf("systemd: reset-failed %s: %w", u, classify(err)))
		}
	}
	return errors.Join(errs...)
}

// SystemState is systemd's overall state: initializing, starting,
// running, degraded (some unit failed), maintenance, stopping.
func (c *Client) SystemState(ctx context.Context) (string, error) {
	p, err := c.conn.SystemStateContext(ctx)
	if err != nil {
		return "", fmt.Errorf("systemd: system state: %w", err)
	}
	s, ok := p.Value.Value().(string)
	if !ok {
		return "", fmt.Errorf("systemd: system state: unexpected value %s", p.Value)
	}
	return s, nil
}

// BootTime is when this systemd started userspace: the VM's (or lab
// host's) boot as far as its services are concerned. Doctor uses it to
// tell "just booted" from "stopped later".
func (c *Client) BootTime(context.Context) (time.Time, error) {
	s, err := c.conn.GetManagerProperty("UserspaceTimestamp")
	if err != nil {
		return time.Time{}, fmt.Errorf("systemd: boot time: %w", err)
	}
	return parseTimestamp(s)
}

// parseTimestamp reads a D-Bus uint64 of microseconds since the epoch in
// its text form ("@t 1733300000000000").
func parseTimestamp(s string) (time.Time, error) {
	us, err := strconv.ParseUint(strings.TrimPrefix(s, "@t "), 10, 64)
	if err != nil || us == 0 {
		return time.Time{}, fmt.Errorf("systemd: boot time: unexpected value %q", s)
	}
	return time.UnixMicro(int64(us)), nil
}
