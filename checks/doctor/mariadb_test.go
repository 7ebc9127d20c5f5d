package doctor

import (
	"database/sql"
	"errors"
	"strings"
	"testing"

	"github.com/go-sql-driver/mysql"

	"github.com/stacklab/stacklab/checks"
)

func TestBatchRowPrintsAsTheClient(t *testing.T) {
	for _, tc := range []struct {
		vals []sql.NullString
		want string
	}{
		{[]sql.NullString{{String: "max_connections", Valid: true}, {String: "4096", Valid: true}}, "max_connections\t4096\n"},
		{[]sql.NullString{{String: "lab", Valid: true}}, "lab\n"},
		{[]sql.NullString{{String: "user nova", Valid: true}, {}}, "user nova\tNULL\n"},
	} {
		if got := BatchRow(tc.vals); got != tc.want {
			t.Errorf("BatchRow(%v) = %q, want %q", tc.vals, got, tc.want)
		}
	}
}

// A refusal reads as the mysql client prints it, so the connections
// verdict names MariaDB's limit from the driver's error as it did from
// the client's output.
func TestMySQLErrorReadsAsTheClient(t *testing.T) {
	out, err := mysqlError(&mysql.MySQLError{Number: 1040, SQLState: [5]byte{'0', '8', '0', '0', '4'}, Message: "Too many connections"})
	if want := "ERROR 1040 (08004): Too many connections\n"; string(out) != want || err == nil {
		t.Fatalf("mysqlError = %q, %v; want %q and an error", out, err, want)
	}
	if r := MariaDBConnVerdict(string(out), err); r.Status != checks.Fail || !strings.Contains(r.Summary, "Too many connections") {
		t.Errorf("verdict on the driver's refusal = %s %q", r.Status, r.Summary)
	}
	// Not the server's word: no output, the cause kept.
	cause := errors.New("dial unix /run/mysqld/mysqld.sock: connect: no such file or directory")
	if out, err := mysqlError(cause); out != nil || !errors.Is(err, cause) {
		t.Errorf("mysqlError(dial) = %q, %v", out, err)
	}
}
