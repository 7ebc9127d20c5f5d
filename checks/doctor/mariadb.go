package doctor

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/go-sql-driver/mysql"
)

// MariaDBSocket is where Debian's MariaDB listens for local clients.
const MariaDBSocket = "/run/mysqld/mysqld.sock"

// MariaDB queries the lab's database server as root over its unix socket,
// the login the mysql client makes as root on Debian (unix_socket: the
// server reads who is calling from the socket), without a client process:
// each mysql process cost about 35 ms of CPU, two per doctor run. It is
// safe for concurrent use; the connection is opened at the first query.
type MariaDB struct {
	// Socket is the server's socket; empty means MariaDBSocket.
	Socket string

	once sync.Once
	db   *sql.DB
	err  error
}

func (m *MariaDB) open() (*sql.DB, error) {
	m.once.Do(func() {
		cfg := mysql.NewConfig()
		cfg.User, cfg.Net, cfg.Addr = "root", "unix", m.Socket
		if cfg.Addr == "" {
			cfg.Addr = MariaDBSocket
		}
		// doctor's queries are several statements, as mysql -e runs them.
		cfg.MultiStatements = true
		cfg.Timeout = 3 * time.Second
		m.db, m.err = sql.Open("mysql", cfg.FormatDSN())
	})
	return m.db, m.err
}

// Query runs query (one or more statements) and returns every row of
// every result as `mysql --batch --skip-column-names` prints them: columns
// tab-separated, one row a line, NULL as NULL. A server's refusal comes
// back as the client shows it ("ERROR 1040 (HY000): Too many
// connections"), in the output and in the error, so a verdict reads the
// same text from either.
func (m *MariaDB) Query(ctx context.Context, query string) ([]byte, error) {
	db, err := m.open()
	if err != nil {
		return nil, fmt.Errorf("mariadb: %w", err)
	}
	rows, err := db.QueryContext(ctx, query)
	if err != nil {
		return mysqlError(err)
	}
	defer func() { _ = rows.Close() }()
	var b strings.Builder
	for {
		cols, err := rows.Columns()
		if err != nil {
			return mysqlError(err)
		}
		vals := make([]sql.NullString, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		for rows.Next() {
			if err := rows.Scan(ptrs...); err != nil {
				return mysqlError(err)
			}
			b.WriteString(BatchRow(vals))
		}
		if !rows.NextResultSet() {
			break
		}
	}
	if err := rows.Err(); err != nil {
		return mysqlError(err)
	}
	return []byte(b.String()), nil
}

// BatchRow is one row as mysql --batch prints it.
func BatchRow(vals []sql.NullString) string {
	cells := make([]string, len(vals))
	for i, v := range vals {
		cells[i] = "NULL"
		if v.Valid {
			cells[i] = v.String
		}
	}
	return strings.Join(cells, "\t") + "\n"
}

// mysqlError words a server's refusal as the mysql client prints it.
func mysqlError(err error) ([]byte, error) {
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		msg := fmt.Sprintf("ERROR %d (%s): %s", me.Number, string(me.SQLState[:]), me.Message)
		return []byte(msg + "\n"), fmt.Errorf("mariadb: %s", msg)
	}
	return nil, fmt.Errorf("mariadb: %w", err)
}
