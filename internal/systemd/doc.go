// Package systemd drives the system's service manager over D-Bus
// (go-systemd v22) for the installer, doctor and `stacklab services`.
// Consumers define their own small interfaces over *Client.
//
// Jobs: Start, Stop, Restart and TryRestart return only once systemd has
// finished the job, not when it was queued; any result other than "done"
// is a *JobError (errors.Is(err, ErrJobFailed)), and a failed or timed-out
// start carries the unit's last journal lines.
//
// Connection: Connect tries systemd's private socket (/run/systemd/private,
// root only, no dbus-daemon needed) and then the system bus. Inside a
// systemd-nspawn lab host plain Connect is the path. ConnectPath reaches a
// systemd booted in another mount namespace through
// /proc/PID/root/run/systemd/private (see package systemdtest).
//
// # Holding services back during package installation
//
// On a fresh host without policy-rc.d every postinst starts its service
// half-configured; nova and neutron units then crash-loop under Restart= and
// starve a 2-core host (a measured install took 52 minutes instead of a few).
// The recommended pattern:
//
//	// before apt-get install, with the full list of units the packages ship
//	// (masking a unit whose package is not installed yet is fine):
//	c.Mask(ctx, held...)        // runtime mask: /run/systemd/system/U -> /dev/null
//	for _, u := range held {    // on a re-run some may already be running
//		c.Stop(ctx, u)
//	}
//	// apt-get install: deb-systemd-invoke cannot start masked units, while
//	// deb-systemd-helper still records the units as enabled in /etc.
//	// then per tier, once its configuration is written:
//	c.Unmask(ctx, tier...)
//	c.Enable(ctx, tier...)
//	for _, u := range tier {
//		c.Restart(ctx, u)       // then wait until the tier answers
//	}
//
// Mask is a runtime mask on purpose: it lives in /run, so it never leaves
// a permanently masked unit behind when stacklab is interrupted, and it does
// not interfere with deb-systemd-helper's own bookkeeping of masks in /etc.
// Two consequences: it overrides units shipped in /lib/systemd/system (every
// Debian package) but not a unit file an administrator put in
// /etc/systemd/system; and a reboot clears it, so the installer must apply
// the hold again at the start of every run (Mask is idempotent).
package systemd
