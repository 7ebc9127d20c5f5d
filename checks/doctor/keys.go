package doctor

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/stacklab/stacklab/checks"
)

// IDKeystoneKeys is the check that keystone's fernet and credential keys
// exist and are keystone's alone.
const IDKeystoneKeys = "keystone-keys"

// Keystone's key repositories (Debian's defaults, which the lab keeps).
const (
	FernetKeys     = "/etc/keystone/fernet-keys"
	CredentialKeys = "/etc/keystone/credential-keys"
)

// fernetMissing starts the summary of the failure doctor --fix repairs
// with fernet_setup: no key at all, so creating them loses nothing.
const fernetMissing = "keystone cannot issue tokens: no fernet keys"

// KeyEntry is one line of `find REPO -maxdepth 1 -printf '%p\t%y\t%u\t%g\t%m\n'`.
type KeyEntry struct {
	Path        string
	Type        string // d, f, l…
	User, Group string
	Mode        uint32 // permission bits
}

// KeyEntries reads find's lines; its complaints ("No such file or
// directory") are not entries.
func KeyEntries(out string) []KeyEntry {
	var list []KeyEntry
	for _, l := range strings.Split(out, "\n") {
		f := strings.Split(l, "\t")
		if len(f) != 5 {
			continue
		}
		m, err := strconv.ParseUint(f[4], 8, 32)
		if err != nil {
			continue
		}
		list = append(list, KeyEntry{Path: f[0], Type: f[1], User: f[2], Group: f[3], Mode: uint32(m)})
	}
	return list
}

func (e KeyEntry) String() string {
	return fmt.Sprintf("%s %s:%s %04o", e.Path, e.User, e.Group, e.Mode)
}

// readableBy tells whether user:group can read (and for a directory,
// enter) the entry, from its owner and mode as the kernel would.
func (e KeyEntry) readableBy(user, group string) bool {
	need := uint32(4)
	if e.Type == "d" {
		need = 5
	}
	switch {
	case e.User == user:
		return e.Mode>>6&need == need
	case e.Group == group:
		return e.Mode>>3&need == need
	}
	return e.Mode&need == need
}

// keyRepo grades one repository: its problems (empty when fine) and
// whether it has no key at all.
func keyRepo(repo string, entries []KeyEntry) (problems []string, none bool) {
	var dir *KeyEntry
	keys := 0
	for i, e := range entries {
		switch {
		case e.Path == repo && e.Type == "d":
			dir = &entries[i]
		case path.Dir(e.Path) == repo && isKeyName(path.Base(e.Path)):
			keys++
			switch {
			case e.Type != "f":
				problems = append(problems, e.Path+" is not a file")
			case !e.readableBy("keystone", "keystone"):
				problems = append(problems, fmt.Sprintf("%s is unreadable to keystone (%s:%s, mode %04o)", e.Path, e.User, e.Group, e.Mode))
			case e.Mode&0o077 != 0:
				problems = append(problems, fmt.Sprintf("%s is readable by others (mode %04o, want 0600)", e.Path, e.Mode))
			}
		}
	}
	switch {
	case dir == nil:
		return []string{repo + " does not exist"}, true
	case !dir.readableBy("keystone", "keystone"):
		problems = append([]string{fmt.Sprintf("%s is closed to keystone (%s:%s, mode %04o)", repo, dir.User, dir.Group, dir.Mode)}, problems...)
	case keys == 0:
		return []string{repo + " holds no key"}, true
	}
	return problems, false
}

func isKeyName(s string) bool {
	_, err := strconv.Atoi(s)
	return err == nil
}

// KeysVerdict grades keystone's key repositories from find's entries.
// Without a readable fernet key keystone issues no token (every login,
// the dashboard's included, fails with a 500); without credential keys
// only the credentials API (EC2, TOTP) fails, a warning.
func KeysVerdict(entries []KeyEntry) checks.Result {
	var ev []string
	for _, e := range entries {
		ev = append(ev, e.String())
	}
	fernet, noFernet := keyRepo(FernetKeys, entries)
	cred, noCred := keyRepo(CredentialKeys, entries)
	ownFix := func(repo string) string {
		return fmt.Sprintf("chown -R keystone:keystone %s && chmod 0700 %s && chmod 0600 %s/*", repo, repo, repo)
	}
	setup := func(what string) string {
		return "keystone-manage " + what + " --keystone-user keystone --keystone-group keystone"
	}
	var fixes []string
	switch {
	case noFernet:
		fixes = append(fixes, setup("fernet_setup")+" && systemctl restart keystone   (or: stacklab doctor --fix)")
	case len(fernet) > 0:
		fixes = append(fixes, ownFix(FernetKeys)+" && systemctl restart keystone")
	}
	switch {
	case noCred:
		fixes = append(fixes, setup("credential_setup"))
	case len(cred) > 0:
		fixes = append(fixes, ownFix(CredentialKeys))
	}
	fix := strings.Join(fixes, "\n")
	switch {
	case noFernet:
		return checks.Failf(fernetMissing+": "+fernet[0], fix, append(append(ev, fernet...), cred...)...)
	case len(fernet) > 0 && !strings.Contains(fernet[0], "readable by others"):
		return checks.Failf("keystone cannot issue tokens: "+fernet[0], fix, append(append(ev, fernet...), cred...)...)
	case len(fernet) > 0 || len(cred) > 0:
		all := slices.Concat(fernet, cred)
		return checks.Warnf("keystone's keys: "+all[0], fix, append(ev, all...)...)
	}
	return checks.Pass("fernet and credential keys present, keystone's alone", ev...)
}

func (dr *doctor) checkKeystoneKeys(ctx context.Context) checks.Result {
	if r, ok := dr.notLab(); ok {
		return r
	}
	ctx, cancel := context.WithTimeout(ctx, dr.cfg.probe())
	defer cancel()
	// find exits 1 when a repository is missing, which is a finding.
	out, err := dr.d.Host.Run(ctx, "find", FernetKeys, CredentialKeys, "-maxdepth", "1", "-printf", `%p\t%y\t%u\t%g\t%m\n`)
	entries := KeyEntries(string(out))
	if len(entries) == 0 && !strings.Contains(string(out), "No such file") {
		// Not find's answer (no entry, no complaint): nothing to judge.
		why := "no answer"
		if err != nil {
			why = err.Error()
		}
		return checks.Skipped("cannot list keystone's key repositories: "+why, firstLines(string(out), 2))
	}
	return KeysVerdict(entries)
}

// FernetRepairer is a Repairer that can create keystone's fernet keys where
// there are none; optional, as KeystoneURLRepairer is.
type FernetRepairer interface {
	// SetupFernet runs keystone-manage fernet_setup when the repository
	// is missing or empty, and never otherwise: existing keys are what
	// validates the tokens already issued. It reports whether it ran.
	SetupFernet(ctx context.Context) (bool, error)
}

func (h HostRepairer) SetupFernet(ctx context.Context) (bool, error) {
	return setupFernetWith(ctx, h, h.Host.Run)
}

func setupFernetWith(ctx context.Context, h HostRepairer, run func(context.Context, string, ...string) ([]byte, error)) (bool, error) {
	list, err := os.ReadDir(h.Host.path(FernetKeys))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return false, fmt.Errorf("read %s: %w", FernetKeys, err)
	}
	if len(list) > 0 {
		return false, nil
	}
	if _, err := run(ctx, "keystone-manage", "fernet_setup", "--keystone-user", "keystone", "--keystone-group", "keystone"); err != nil {
		return false, err
	}
	return true, nil
}

// planFernet creates missing fernet keys and restarts keystone.
func planFernet(rep checks.Report, f Repairer) []Repair {
	ff, ok := f.(FernetRepairer)
	e, found := rep.Get(IDKeystoneKeys)
	if !ok || !found || e.Status != checks.Fail || !strings.HasPrefix(e.Summary, fernetMissing) {
		return nil
	}
	return []Repair{{For: IDKeystoneKeys,
		Description: "create keystone's fernet keys (keystone-manage fernet_setup, only into an empty " + FernetKeys + ") and restart keystone",
		Run: func(ctx context.Context) error {
			ran, err := ff.SetupFernet(ctx)
			if err != nil || !ran {
				return err
			}
			return f.Restart(ctx, "keystone")
		}}}
}
