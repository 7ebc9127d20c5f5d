package openstack

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

// Databases returns the lab's databases. nova's three share one account.
func Databases(p Params) []Database {
	db := func(name, user, pw string) Database {
		return Database{Name: name, User: user, Password: pw, Hosts: []string{"localhost", "127.0.0.1"}}
	}
	return []Database{
		db("keystone", "keystone", p.KeystoneDB),
		db("glance", "glance", p.GlanceDB),
		db("placement", "placement", p.PlacementDB),
		db("nova_api", "nova", p.NovaDB),
		db("nova", "nova", p.NovaDB),
		db("nova_cell0", "nova", p.NovaDB),
		db("neutron", "neutron", p.NeutronDB),
	}
}
