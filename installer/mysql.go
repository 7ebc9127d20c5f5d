package installer

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/stacklab/stacklab/installer/openstack"
	"github.com/stacklab/stacklab/internal/fix"
)

// mysqlArgv runs the client as root over the unix socket (MariaDB's root
// authenticates by unix_socket on Debian): no password anywhere, and the
// SQL, which holds the service passwords, goes in on stdin.
var mysqlArgv = []string{"mysql", "--batch", "--skip-column-names"}

// readSQL lists databases, accounts with their password hash and accounts
// holding all the usual privileges on a database, as tab-separated rows.
const readSQL = `SELECT 'db', SCHEMA_NAME, '', '' FROM information_schema.SCHEMATA;
SELECT 'user', User, Host, authentication_string FROM mysql.user;
SELECT 'grant', Db, User, Host FROM mysql.db WHERE Select_priv='Y' AND Insert_priv='Y' AND Update_priv='Y' AND Delete_priv='Y' AND Create_priv='Y' AND Drop_priv='Y' AND Alter_priv='Y' AND Index_priv='Y';
`

type dbState struct {
	dbs    map[string]bool
	users  map[string]string // "user@host" -> authentication_string
	grants map[string]bool   // "db user@host"
}

func parseDBState(out string) dbState {
	st := dbState{dbs: map[string]bool{}, users: map[string]string{}, grants: map[string]bool{}}
	for _, line := range strings.Split(out, "\n") {
		f := strings.Split(line, "\t")
		if len(f) != 4 {
			continue
		}
		switch f[0] {
		case "db":
			st.dbs[f[1]] = true
		case "user":
			st.users[f[1]+"@"+f[2]] = f[3]
		case "grant":
			st.grants[f[1]+" "+f[2]+"@"+f[3]] = true
		}
	}
	return st
}

// nativePasswordHash is MariaDB's mysql_native_password hash, what
// PASSWORD() returns and mysql.user shows: a password is compared without
// ever being sent.
func nativePasswordHash(pw string) string {
	a := sha1.Sum([]byte(pw))
	b := sha1.Sum(a[:])
	return "*" + strings.ToUpper(hex.EncodeToString(b[:]))
}

func sqlString(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}

func sqlIdent(s string) string { return "`" + strings.ReplaceAll(s, "`", "``") + "`" }

// planDatabases returns the SQL that makes st hold dbs, and one change
// line per database that needs any (no passwords).
func planDatabases(dbs []openstack.Database, st dbState) (sql string, changes []string) {
	var b strings.Builder
	doneUser := map[string]bool{}
	for _, d := range dbs {
		var acts []string
		if !st.dbs[d.Name] {
			fmt.Fprintf(&b, "CREATE DATABASE IF NOT EXISTS %s;\n", sqlIdent(d.Name))
			acts = append(acts, "create")
		}
		for _, h := range d.Hosts {
			acct := d.User + "@" + h
			sqlAcct := sqlString(d.User) + "@" + sqlString(h)
			if !doneUser[acct] {
				doneUser[acct] = true
				hash, ok := st.users[acct]
				switch {
				case !ok:
					fmt.Fprintf(&b, "CREATE USER IF NOT EXISTS %s IDENTIFIED BY %s;\n", sqlAcct, sqlString(d.Password))
					acts = append(acts, "create user "+acct)
				case hash != nativePasswordHash(d.Password):
					fmt.Fprintf(&b, "ALTER USER %s IDENTIFIED BY %s;\n", sqlAcct, sqlString(d.Password))
					acts = append(acts, "set password of "+acct)
				}
			}
			if !st.grants[d.Name+" "+acct] {
				fmt.Fprintf(&b, "GRANT ALL PRIVILEGES ON %s.* TO %s;\n", sqlIdent(d.Name), sqlAcct)
				acts = append(acts, "grant "+acct)
			}
		}
		if len(acts) > 0 {
			changes = append(changes, "database "+d.Name+": "+strings.Join(acts, ", "))
		}
	}
	return b.String(), changes
}

// databases creates the lab's databases and accounts, idempotently: it
// reads what exists and sends only what differs.
func (l *lab) databases(ctx context.Context, dryRun bool, o *outcome) error {
	out, err := l.h.Exec.Run(ctx, Cmd{User: "root", Argv: mysqlArgv, Stdin: readSQL, ReadOnly: true})
	if err != nil {
		if dryRun {
			o.add("create the databases and their users (MariaDB not readable yet)")
			return nil
		}
		return fix.Wrapf(fmt.Errorf("read MariaDB's databases and users: %w", err),
			"check that MariaDB runs and root logs in over its socket: mysql -e 'SELECT 1'")
	}
	st := parseDBState(string(out))
	sql, changes := planDatabases(openstack.Databases(l.p), st)
	if sql == "" {
		return nil
	}
	o.changes = append(o.changes, changes...)
	if dryRun {
		return nil
	}
	l.cfg.notify(PhaseInfra, "creating databases")
	if _, err := l.h.Exec.Run(ctx, Cmd{User: "root", Argv: mysqlArgv, Stdin: sql, Redact: l.p.Secrets.Values()}); err != nil {
		return fix.Wrapf(fmt.Errorf("create databases: %w", err), "check MariaDB's log: journalctl -u mariadb -n 50")
	}
	for _, d := range openstack.Databases(l.p) {
		if !st.dbs[d.Name] {
			if err := l.h.Files.WriteFile(l.freshMarker(d.Name), []byte(freshContent), stateFilePerm); err != nil {
				return err
			}
		}
	}
	return nil
}

// A fresh marker says stacklab made the database and no sync has finished
// building its schema: nothing but a sync has written to it, so a sync that
// fails there may start again on an empty database (resetFresh).
const freshContent = "created by stacklab; its first schema sync has not finished\n"

func (l *lab) freshMarker(db string) string { return l.markerPath("fresh-database-" + db) }

// resetFresh drops and recreates c's databases when every one of them is
// fresh (made by stacklab, no sync finished) and c never completed: what a
// first sync killed half-way left. It reports whether it did; the
// accounts' grants, kept by name in mysql.db, still apply.
func (l *lab) resetFresh(ctx context.Context, c openstack.Command, o *outcome) (bool, error) {
	if len(c.Databases) == 0 {
		return false, nil
	}
	if done, err := l.h.Files.Exists(l.markerPath(c.Name)); err != nil || done {
		return false, err
	}
	var b strings.Builder
	for _, db := range c.Databases {
		fresh, err := l.h.Files.Exists(l.freshMarker(db))
		if err != nil || !fresh {
			return false, err
		}
		fmt.Fprintf(&b, "DROP DATABASE IF EXISTS %s;\nCREATE DATABASE %s;\n", sqlIdent(db), sqlIdent(db))
	}
	o.add("recreate database %s: its first sync (%s) was interrupted half-way", strings.Join(c.Databases, ", "), c.Name)
	if _, err := l.h.Exec.Run(ctx, Cmd{User: "root", Argv: mysqlArgv, Stdin: b.String()}); err != nil {
		return false, fix.Wrapf(fmt.Errorf("recreate database %s: %w", strings.Join(c.Databases, ", "), err),
			"check MariaDB's log: journalctl -u mariadb -n 50")
	}
	return true, nil
}
