package openstack

var mariadbService = service{
	packages: func(Params) []string {
		return []string{
			"mariadb-server",
			// SQLAlchemy's compiled row and type processing, which
			// every service's database reads go through; only a
			// Recommends of python3-sqlalchemy, and the install
			// takes no Recommends.
			"python3-sqlalchemy-ext",
		}
	},
	files: func(Params) []File { return []File{mariadbConf()} },
	tiers: func(Params) []Tier {
		return []Tier{{Name: TierInfra, Units: []string{"mariadb"}, Probes: []Probe{{Kind: ProbeTCP, Target: "127.0.0.1:3306"}}}}
	},
}

// mariadbConf: our own drop-in, read after Debian's 50-server.cnf. The
// install guide's settings; loopback only (services reach it on
// 127.0.0.1).
func mariadbConf() File {
	return File{
		Path: "/etc/mysql/mariadb.conf.d/99-stacklab.cnf",
		Kind: Text,
		Content: `# Managed by stacklab.
[mysqld]
bind-address = 127.0.0.1
default-storage-engine = innodb
innodb_file_per_table = on
max_connections = 4096
collation-server = utf8_general_ci
character-set-server = utf8
`,
		Mode:  0o644,
		Owner: "root",
		Group: "root",
		Units: []string{"mariadb"},
	}
}

// Database is one MariaDB database and the account that owns it.
type Database struct {
	Name     string
	User     string
	Password string
	// Hosts are the account hosts to grant ALL on Name to. MariaDB
	// listens on 127.0.0.1 only; both names cover a TCP connection to
	// 127.0.0.1 whether or not MariaDB resolves it to localhost.
	Hosts []string
}

// database is a service's database, reached over loopback (dbURL).
func database(name, user, password string) Database {
	return Database{Name: name, User: user, Password: password, Hosts: []string{"localhost", "127.0.0.1"}}
}
