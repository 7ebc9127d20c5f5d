package doctor

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/stacklab/stacklab/checks"
)

// IDMariaDBConnections is the check that MariaDB has connections to
// spare for the services.
const IDMariaDBConnections = "mariadb-connections"

// mariadbConnQuery reads the limit, the use and who uses it, one
// "name<TAB>value" line each.
const mariadbConnQuery = "SHOW GLOBAL VARIABLES LIKE 'max_connections'; " +
	"SHOW GLOBAL STATUS WHERE Variable_name IN ('Threads_connected', 'Max_used_connections'); " +
	"SELECT CONCAT('user ', user), COUNT(*) FROM information_schema.processlist GROUP BY user ORDER BY COUNT(*) DESC LIMIT 5"

const mariadbConnFix = "raise max_connections under [mysqld] in /etc/mysql/mariadb.conf.d/99-stacklab.cnf (stacklab renders 4096; Debian's default is 151) " +
	"and systemctl restart mariadb; fewer workers hold fewer connections (services.workers in /etc/stacklab/stacklab.yaml, then stacklab install --yes)"

// MariaDBConnVerdict grades mysql's answer to mariadbConnQuery (out, and
// err when mysql failed). ERROR 1040 is MariaDB refusing even root's
// reserved connection; at the limit otherwise, root still gets in through
// that reserve while every service gets "Too many connections".
func MariaDBConnVerdict(out string, err error) checks.Result {
	if strings.Contains(out, "Too many connections") {
		return checks.Failf("MariaDB refuses every new connection: Too many connections (ERROR 1040)", mariadbConnFix,
			"mysql: "+firstLines(strings.TrimSpace(out), 2))
	}
	if err != nil {
		// The mariadb check reports a MariaDB that does not answer.
		return checks.Skipped("cannot read MariaDB's connection counts: " + err.Error())
	}
	vals := map[string]int{}
	var users []string
	for _, l := range strings.Split(out, "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(l), "\t")
		if !ok {
			continue
		}
		n, err := strconv.Atoi(v)
		if err != nil {
			continue
		}
		if u, ok := strings.CutPrefix(k, "user "); ok {
			users = append(users, fmt.Sprintf("%s %d", u, n))
			continue
		}
		vals[strings.ToLower(k)] = n
	}
	limit, used, peak := vals["max_connections"], vals["threads_connected"], vals["max_used_connections"]
	if limit == 0 {
		return checks.Skipped("MariaDB did not report max_connections", firstLines(out, 2))
	}
	ev := []string{fmt.Sprintf("connected %d, most since start %d, max_connections %d", used, peak, limit)}
	if len(users) > 0 {
		ev = append(ev, "by user: "+strings.Join(users, ", "))
	}
	switch {
	case used >= limit:
		return checks.Failf(fmt.Sprintf("MariaDB is at its connection limit (%d of %d): the services get 'Too many connections'", used, limit), mariadbConnFix, ev...)
	case peak >= limit:
		return checks.Warnf(fmt.Sprintf("MariaDB reached its connection limit (%d) since it started: services were refused then", limit), mariadbConnFix, ev...)
	case used*10 >= limit*9:
		return checks.Warnf(fmt.Sprintf("MariaDB is near its connection limit (%d of %d)", used, limit), mariadbConnFix, ev...)
	}
	return checks.Pass(fmt.Sprintf("%d of %d connections in use", used, limit), ev...)
}

func (dr *doctor) checkMariaDBConnections(ctx context.Context) checks.Result {
	if r, ok := dr.notLab(); ok {
		return r
	}
	out, err := dr.mariadbConns(ctx)
	return MariaDBConnVerdict(string(out), err)
}

// mariadbConns is mysql's answer to mariadbConnQuery, asked once per run:
// the connections check grades it, and the mariadb check reads in it that
// MariaDB answers root's queries.
func (dr *doctor) mariadbConns(ctx context.Context) ([]byte, error) {
	return dr.mysqlConns.get(ctx, func(ctx context.Context) ([]byte, error) {
		ctx, cancel := context.WithTimeout(ctx, dr.cfg.probe())
		defer cancel()
		return dr.d.sql(ctx, mariadbConnQuery)
	})
}
