package apt

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Manager runs apt and dpkg. Paths it reads or writes itself (lock files,
// the debconf database, log files) are taken under Root; apt and dpkg act
// on the running system.
type Manager struct {
	Root   string
	Runner Runner
	Locks  LockProber
	// LockWait bounds the wait for another package manager (often
	// unattended-upgrades on a fresh VM); 5 minutes if zero.
	LockWait time.Duration
	// PollInterval between lock checks; 1 second if zero.
	PollInterval time.Duration
	// Notify receives messages for the user, such as who holds the lock.
	Notify func(string)
	// Sync flushes every filesystem after an UnsafeIO install; sync(2) if
	// nil.
	Sync func()
}

// New returns a Manager acting on this machine.
func New(root string) *Manager {
	return &Manager{Root: root, Runner: ExecRunner{}, Locks: FcntlProber{}}
}

func (m *Manager) runner() Runner {
	if m.Runner == nil {
		return ExecRunner{}
	}
	return m.Runner
}

func (m *Manager) locks() LockProber {
	if m.Locks == nil {
		return FcntlProber{}
	}
	return m.Locks
}

func (m *Manager) lockWait() time.Duration {
	if m.LockWait <= 0 {
		return 5 * time.Minute
	}
	return m.LockWait
}

func (m *Manager) pollInterval() time.Duration {
	if m.PollInterval <= 0 {
		return time.Second
	}
	return m.PollInterval
}

func (m *Manager) notify(s string) {
	if m.Notify != nil {
		m.Notify(s)
	}
}

// Package names as Debian policy allows them, with an optional :arch and
// =version; anything else could be read by apt-get as an option.
var packageRe = regexp.MustCompile(`^[a-z0-9][a-z0-9+.-]+(:[a-z0-9-]+)?(=[A-Za-z0-9.+~:-]+)?$`)

func checkPackages(names []string) error {
	var errs []error
	for _, n := range names {
		if !packageRe.MatchString(n) {
			errs = append(errs, fmt.Errorf("%q is not a package name", n))
		}
	}
	return errors.Join(errs...)
}

// Missing returns the packages of pkgs that are not installed, in the order
// given. Installed means dpkg's status "<want> ok installed": "install"
// or "hold" — a held package is as installed as any other — while
// half-installed or failed states count as missing so that apt repairs
// them.
func (m *Manager) Missing(ctx context.Context, pkgs []string) ([]string, error) {
	if len(pkgs) == 0 {
		return nil, nil
	}
	if err := checkPackages(pkgs); err != nil {
		return nil, err
	}
	var out, errOut bytes.Buffer
	err := m.runner().Run(ctx, Command{
		Name:   "dpkg-query",
		Args:   append([]string{"--show", "--showformat=${binary:Package}\t${Package}\t${Status}\n"}, pkgs...),
		Env:    []string{"LC_ALL=C.UTF-8"},
		Output: &splitWriter{out: &out, err: &errOut},
	})
	// Exit status 1 means some names are unknown to dpkg: missing, which is
	// what we are asking.
	if code, ok := exitCode(err); err != nil && !(ok && code == 1) {
		return nil, fmt.Errorf("query installed packages: %w: %s", err, strings.TrimSpace(errOut.String()))
	}
	return missingFrom(out.String(), pkgs), nil
}

// splitWriter lets Missing keep dpkg-query's table apart from its
// complaints: the Runner merges stdout and stderr, but dpkg-query's
// complaints all start with "dpkg-query: ".
type splitWriter struct {
	out, err *bytes.Buffer
	partial  []byte
}

func (w *splitWriter) Write(p []byte) (int, error) {
	w.partial = append(w.partial, p...)
	for {
		i := bytes.IndexByte(w.partial, '\n')
		if i < 0 {
			return len(p), nil
		}
		line := w.partial[:i+1]
		if bytes.HasPrefix(line, []byte("dpkg-query: ")) {
			w.err.Write(line)
		} else {
			w.out.Write(line)
		}
		w.partial = w.partial[i+1:]
	}
}

func missingFrom(table string, pkgs []string) []string {
	installed := map[string]bool{}
	for _, line := range strings.Split(table, "\n") {
		f := strings.Split(line, "\t")
		if len(f) != 3 {
			continue
		}
		st := strings.Fields(f[2])
		if len(st) == 3 && st[1] == "ok" && st[2] == "installed" {
			installed[f[0]], installed[f[1]] = true, true
		}
	}
	var missing []string
	for _, p := range pkgs {
		name, _, _ := strings.Cut(p, "=")
		if !installed[name] {
			missing = append(missing, p)
		}
	}
	return missing
}

// InstallOptions tune Install.
type InstallOptions struct {
	// Exclude lists packages that must not be installed even as a
	// Recommends, such as openvswitch-switch next to linuxbridge; apt-get
	// takes them as "name-".
	Exclude []string
	// LogPath (under Root) receives apt's full output, appended.
	LogPath string
	// Progress, if set, is called from apt's status channel.
	Progress func(Progress)
	// DownloadOnly fetches the archives without installing.
	DownloadOnly bool
	// ArchivesDir replaces /var/cache/apt/archives (as apt sees it).
	ArchivesDir string
	// Reinstall reinstalls packages already installed.
	Reinstall bool
	// NoRecommends installs what the packages depend on and not what they
	// recommend (apt-get --no-install-recommends).
	NoRecommends bool
	// UnsafeIO has dpkg write the files it unpacks without an fsync each
	// (--force-unsafe-io), as Debian's installer does for the base
	// system; Install then syncs the filesystems once. On the CI machine
	// (an fsync about 3 ms) it took a tenth off a lab's apt run. The cost:
	// a power cut during that one run can leave files of packages it had
	// unpacked empty, where dpkg's default would leave only the package
	// being unpacked broken.
	UnsafeIO bool
	// SkipTestsBytecode keeps the packages' postinsts from byte-compiling
	// their test suites (skipTestsBytecode) for the length of the run.
	SkipTestsBytecode bool
}

// CommandError is a failed apt run, carrying what the user needs to act on
// it without opening the log.
type CommandError struct {
	Op       string    // "install", "update"
	Failed   []Failure // packages dpkg reported as failed, if any
	Tail     []string  // last lines of output
	LogPath  string
	Err      error
	ExitCode int
}

func (e *CommandError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "apt-get %s failed", e.Op)
	for i, f := range e.Failed {
		if i == 0 {
			b.WriteString(": ")
		} else {
			b.WriteString("; ")
		}
		fmt.Fprintf(&b, "package %s: %s", f.Package, f.Message)
	}
	fmt.Fprintf(&b, " (%v)", e.Err)
	if len(e.Tail) > 0 {
		b.WriteString("\nlast lines of output")
		if e.LogPath != "" {
			b.WriteString(" (full log: " + e.LogPath + ")")
		}
		b.WriteString(":")
		for _, l := range e.Tail {
			b.WriteString("\n  " + l)
		}
	}
	return b.String()
}

func (e *CommandError) Unwrap() error { return e.Err }

// ConfigureFailed tells whether every failure dpkg reported happened while
// configuring (a maintainer script, or a package left unconfigured behind
// it): the packages are unpacked, and configuring them again may pass.
func (e *CommandError) ConfigureFailed() bool {
	if len(e.Failed) == 0 {
		return false
	}
	for _, f := range e.Failed {
		if !strings.Contains(f.Message, "post-installation script") && !strings.Contains(f.Message, "leaving unconfigured") {
			return false
		}
	}
	return true
}

// FailedPackages are the packages dpkg reported as failed, in its order.
func (e *CommandError) FailedPackages() []string {
	var out []string
	for _, f := range e.Failed {
		out = append(out, f.Package)
	}
	return out
}

// FailedPackage is the first package dpkg reported as failed, or "".
func (e *CommandError) FailedPackage() string {
	if len(e.Failed) == 0 {
		return ""
	}
	return e.Failed[0].Package
}

const tailLines = 20

// aptEnv keeps apt, debconf and the maintainer scripts from asking
// anything, and apt's messages in English so its summary can be parsed.
func aptEnv() []string {
	return []string{
		"DEBIAN_FRONTEND=noninteractive",
		"DEBCONF_NONINTERACTIVE_SEEN=true",
		"APT_LISTCHANGES_FRONTEND=none",
		"NEEDRESTART_MODE=a",
		"LC_ALL=C.UTF-8",
	}
}

// InstallArgs returns apt-get's arguments for Install; exported so the
// dry-run can show the exact command.
func InstallArgs(pkgs []string, opts InstallOptions, lockTimeout time.Duration) []string {
	args := []string{
		"-y", "-q",
		"-o", fmt.Sprintf("APT::Status-Fd=%d", StatusFD),
		// Keep the package's config files on upgrade and take its default
		// when there is one: our edits are re-applied after, never merged.
		"-o", "Dpkg::Options::=--force-confdef",
		"-o", "Dpkg::Options::=--force-confold",
		"-o", fmt.Sprintf("DPkg::Lock::Timeout=%d", int(lockTimeout.Seconds())),
	}
	if opts.ArchivesDir != "" {
		args = append(args, "-o", "Dir::Cache::archives="+opts.ArchivesDir)
	}
	if opts.DownloadOnly {
		args = append(args, "--download-only")
	}
	if opts.Reinstall {
		args = append(args, "--reinstall")
	}
	if opts.NoRecommends {
		args = append(args, "--no-install-recommends")
	}
	if opts.UnsafeIO && !opts.DownloadOnly {
		args = append(args, "-o", "Dpkg::Options::=--force-unsafe-io")
	}
	args = append(args, "install")
	args = append(args, pkgs...)
	for _, x := range opts.Exclude {
		args = append(args, x+"-")
	}
	return args
}

// Install installs pkgs with apt-get, non-interactively. It first waits for
// any other package manager to finish (see LockWait).
func (m *Manager) Install(ctx context.Context, pkgs []string, opts InstallOptions) error {
	if len(pkgs) == 0 {
		return nil
	}
	if err := checkPackages(append(append([]string(nil), pkgs...), opts.Exclude...)); err != nil {
		return fmt.Errorf("apt-get install: %w", err)
	}
	locks := []string{lockFrontend, lockDpkg}
	if opts.DownloadOnly {
		locks = nil // apt takes only the archives lock then
	}
	left, err := m.waitForLocks(ctx, locks...)
	if err != nil {
		return fmt.Errorf("apt-get install: %w", err)
	}
	release := func() error { return nil }
	if opts.SkipTestsBytecode && !opts.DownloadOnly {
		if release, err = skipTestsBytecode(m.Root); err != nil {
			return fmt.Errorf("apt-get install: %w", err)
		}
	}
	err = m.run(ctx, "install", InstallArgs(pkgs, opts, left), opts.LogPath, opts.Progress, opts.DownloadOnly)
	if opts.UnsafeIO && !opts.DownloadOnly {
		// Failed or not, the run unpacked files that no fsync has put on
		// disk yet: one sync does it for all of them.
		m.sync()
	}
	if rerr := release(); rerr != nil && err == nil {
		err = fmt.Errorf("apt-get install: %w", rerr)
	}
	return err
}

func (m *Manager) sync() {
	if m.Sync != nil {
		m.Sync()
		return
	}
	unix.Sync()
}

// PurgeArgs is the apt-get command line Purge runs: the packages and what
// only they pulled in (--autoremove), with their configuration and data.
func PurgeArgs(pkgs []string, lockTimeout time.Duration) []string {
	args := []string{
		"-y", "-q",
		"-o", fmt.Sprintf("APT::Status-Fd=%d", StatusFD),
		"-o", fmt.Sprintf("DPkg::Lock::Timeout=%d", int(lockTimeout.Seconds())),
		"purge", "--autoremove",
	}
	return append(args, pkgs...)
}

// Purge removes pkgs, their configuration files and the dependencies only
// they needed. Progress and logging work as for Install.
func (m *Manager) Purge(ctx context.Context, pkgs []string, opts InstallOptions) error {
	if len(pkgs) == 0 {
		return nil
	}
	if err := checkPackages(pkgs); err != nil {
		return fmt.Errorf("apt-get purge: %w", err)
	}
	left, err := m.waitForLocks(ctx, lockFrontend, lockDpkg)
	if err != nil {
		return fmt.Errorf("apt-get purge: %w", err)
	}
	return m.run(ctx, "purge", PurgeArgs(pkgs, left), opts.LogPath, opts.Progress, false)
}

// UpdateOptions tune Update.
type UpdateOptions struct {
	LogPath  string
	Progress func(Progress)
}

// Update refreshes the package lists (apt-get update). NeedsUpdate helps
// decide whether to.
func (m *Manager) Update(ctx context.Context, opts UpdateOptions) error {
	left, err := m.waitForLocks(ctx, lockLists)
	if err != nil {
		return fmt.Errorf("apt-get update: %w", err)
	}
	args := []string{"-q", "-o", fmt.Sprintf("APT::Status-Fd=%d", StatusFD),
		"-o", fmt.Sprintf("DPkg::Lock::Timeout=%d", int(left.Seconds())), "update"}
	return m.run(ctx, "update", args, opts.LogPath, opts.Progress, true)
}

func (m *Manager) run(ctx context.Context, op string, args []string, logPath string, progress func(Progress), downloadOnly bool) (err error) {
	tr := newTracker(progress)
	last := &tail{n: tailLines}
	outLines := &lineWriter{fn: func(s string) { last.add(s); tr.outputLine(s) }}
	statusLines := &lineWriter{fn: tr.statusLine}

	output := io.Writer(outLines)
	var logDisplay string
	var f *os.File
	if logPath != "" {
		logDisplay = logPath
		full := filepath.Join(m.Root, logPath)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			return fmt.Errorf("apt-get %s: log: %w", op, err)
		}
		f, err = os.OpenFile(full, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
		if err != nil {
			return fmt.Errorf("apt-get %s: log: %w", op, err)
		}
		defer func() {
			if cerr := f.Close(); cerr != nil && err == nil {
				err = fmt.Errorf("apt-get %s: log: %w", op, cerr)
			}
		}()
		fmt.Fprintf(f, "\n=== %s apt-get %s\n", time.Now().Format(time.RFC3339), strings.Join(args, " "))
		output = io.MultiWriter(f, outLines)
	}

	runErr := m.runner().Run(ctx, Command{
		Name:   "apt-get",
		Args:   args,
		Env:    aptEnv(),
		Output: output,
		Status: statusLines,
	})
	outLines.flush()
	statusLines.flush()
	if runErr != nil {
		code, _ := exitCode(runErr)
		return &CommandError{Op: op, Failed: tr.failed(), Tail: last.get(), LogPath: logDisplay, Err: runErr, ExitCode: code}
	}
	tr.finish(downloadOnly)
	if f != nil {
		// apt prints "Fetched … in …" itself; the split says where the rest went.
		fmt.Fprintf(f, "=== %s apt-get %s: %s\n", time.Now().Format(time.RFC3339), op, tr.split())
	}
	return nil
}

// NeedsUpdate reports whether apt's package lists under root are missing
// or older than maxAge.
func NeedsUpdate(root string, now time.Time, maxAge time.Duration) (bool, error) {
	lists, err := filepath.Glob(filepath.Join(root, "/var/lib/apt/lists/*_Packages*"))
	if err != nil {
		return false, err
	}
	var newest time.Time
	for _, l := range lists {
		info, err := os.Stat(l)
		if err != nil {
			continue // apt may be replacing it right now
		}
		if info.ModTime().After(newest) {
			newest = info.ModTime()
		}
	}
	if newest.IsZero() {
		return true, nil
	}
	return now.Sub(newest) > maxAge, nil
}
