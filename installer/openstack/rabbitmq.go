package openstack

var rabbitmqService = service{
	packages: func(Params) []string { return []string{"rabbitmq-server"} },
	files:    func(Params) []File { return []File{rabbitmqEnv()} },
	tiers: func(Params) []Tier {
		return []Tier{{Name: TierInfra, Units: []string{"rabbitmq-server"}, Probes: []Probe{{Kind: ProbeTCP, Target: "127.0.0.1:5672"}}}}
	},
	syncs: func(p Params) []Command {
		return []Command{
			{
				Name: "rabbitmq-add-user", Tier: TierInfra, Phase: AfterReady, User: "root",
				// Without the password argument, rabbitmqctl (3.8 and later)
				// reads it as one line from standard input. Run once (its
				// marker), not guarded by an Unless: each rabbitmqctl boots
				// an Erlang VM, about 1 s of every re-run. It skips a user
				// that exists, so a lab whose user predates the marker
				// converges too.
				Argv: []string{"sh", "-c", "rabbitmqctl -q list_users </dev/null | cut -f1 | grep -qx " + RabbitUser +
					" || exec rabbitmqctl add_user " + RabbitUser},
				Stdin:  p.Rabbit + "\n",
				Secret: true,
			},
			{
				// add_user is skipped when the user exists: keep the
				// password in step with Params anyway.
				Name: "rabbitmq-password", Tier: TierInfra, Phase: AfterReady, User: "root",
				Argv:   []string{"rabbitmqctl", "change_password", RabbitUser},
				Stdin:  p.Rabbit + "\n",
				Secret: true,
			},
			{
				Name: "rabbitmq-permissions", Tier: TierInfra, Phase: AfterReady, User: "root",
				Argv: []string{"rabbitmqctl", "set_permissions", RabbitUser, ".*", ".*", ".*"},
			},
		}
	},
}

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
