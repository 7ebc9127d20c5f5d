package openstack

// rabbitmqEnv: RabbitMQ binds to every interface by default; loopback only
// here. The postinst installs Debian's commented template only when the
// file does not exist.
func rabbitmqEnv() File {
	return File{
		Path:    "/etc/rabbitmq/rabbitmq-env.conf",
		Kind:    Text,
		Content: "# Managed by stacklab: RabbitMQ on loopback only.\nNODE_IP_ADDRESS=127.0.0.1\nNODE_PORT=5672\n",
		Mode:    0o644,
		Owner:   "rabbitmq",
		Group:   "rabbitmq",
		Units:   []string{"rabbitmq-server"},
	}
}

var rabbitmqService = service{
	packages: func(Params) []string { return []string{"rabbitmq-server"} },
	files:    func(Params) []File { return []File{rabbitmqEnv()} },
	tiers: func(Params) []Tier {
		return []Tier{{Name: TierInfra, Units: []string{"rabbitmq-server"}, Probes: []Probe{{Kind: ProbeTCP, Target: "127.0.0.1:5672"}}}}
	},
}
