package openstack

// Phase says when a Command runs relative to its tier.
type Phase string

const (
	// BeforeStart: after the earlier tiers answer, before this tier's
	// units start (schema migrations, key repositories).
	BeforeStart Phase = "before-start"
	// AfterReady: once this tier's probes pass.
	AfterReady Phase = "after-ready"
)

// Command is a one-off command of the build. Every command is safe to run
// again (idempotent by itself or guarded by Unless).
type Command struct {
	// Name identifies the command in logs and progress lines.
	Name  string
	Tier  string
	Phase Phase
	// User runs the command (root, or the service's system user so the
	// files and logs it creates are the service's).
	User string
	Argv []string
	// Unless, when set, is run first (as User); exit status 0 means the
	// work is done and Argv is skipped.
	Unless []string
	// Env (NAME=value) is added to the command's environment and Stdin
	// is fed to it: the ways a password reaches a command. Never put one
	// in Argv, which every local user can read in /proc/PID/cmdline;
	// /proc/PID/environ is readable only by the command's owner and root.
	Env   []string
	Stdin string
	// Secret: Env or Stdin holds a password; never log them.
	Secret bool
}

// SyncCommands returns the database syncs and bootstrap commands in the
// order to run them, grouped by tier (Tiers order) and phase.
func SyncCommands(p Params) []Command {
	k := KeystoneEndpoint(p.MgmtIP)
	cmds := []Command{
		{
			Name: "rabbitmq-add-user", Tier: TierInfra, Phase: AfterReady, User: "root",
			// Without the password argument, rabbitmqctl (3.8 and later)
			// reads it as one line from standard input.
			Argv:   []string{"rabbitmqctl", "add_user", RabbitUser},
			Stdin:  p.Rabbit + "\n",
			Unless: []string{"sh", "-c", "rabbitmqctl -q list_users | cut -f1 | grep -qx " + RabbitUser},
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

		{Name: "keystone-db-sync", Tier: TierKeystone, Phase: BeforeStart, User: "keystone",
			Argv: []string{"keystone-manage", "db_sync"}},
		// Both leave an existing key repository alone.
		{Name: "keystone-fernet-setup", Tier: TierKeystone, Phase: BeforeStart, User: "root",
			Argv: []string{"keystone-manage", "fernet_setup", "--keystone-user", "keystone", "--keystone-group", "keystone"}},
		{Name: "keystone-credential-setup", Tier: TierKeystone, Phase: BeforeStart, User: "root",
			Argv: []string{"keystone-manage", "credential_setup", "--keystone-user", "keystone", "--keystone-group", "keystone"}},
		{
			// Creates (or updates) the admin user, project and role,
			// the member and reader roles, the region and the identity
			// service with its endpoints. The region given here is the
			// one every config names ("Region case").
			Name: "keystone-bootstrap", Tier: TierKeystone, Phase: BeforeStart, User: "keystone",
			// keystone-manage reads the password from the environment
			// when --bootstrap-password is not given.
			Env: []string{"OS_BOOTSTRAP_PASSWORD=" + p.AdminPassword},
			Argv: []string{"keystone-manage", "bootstrap",
				"--bootstrap-username", p.AdminUser,
				"--bootstrap-project-name", p.AdminProject,
				"--bootstrap-role-name", AdminRole,
				"--bootstrap-region-id", p.Region,
				"--bootstrap-admin-url", k,
				"--bootstrap-internal-url", k,
				"--bootstrap-public-url", k,
			},
			Secret: true,
		},

		{Name: "glance-db-sync", Tier: TierGlance, Phase: BeforeStart, User: "glance",
			Argv: []string{"glance-manage", "db_sync"}},

		{Name: "placement-db-sync", Tier: TierPlacement, Phase: BeforeStart, User: "placement",
			Argv: []string{"placement-manage", "db", "sync"}},

		{Name: "nova-api-db-sync", Tier: TierNova, Phase: BeforeStart, User: "nova",
			Argv: []string{"nova-manage", "api_db", "sync"}},
		{Name: "nova-map-cell0", Tier: TierNova, Phase: BeforeStart, User: "nova",
			Argv: []string{"nova-manage", "cell_v2", "map_cell0"}},
		{
			// create_cell fails when the cell exists.
			Name: "nova-create-cell1", Tier: TierNova, Phase: BeforeStart, User: "nova",
			Argv:   []string{"nova-manage", "cell_v2", "create_cell", "--name=cell1", "--verbose"},
			Unless: []string{"sh", "-c", "nova-manage cell_v2 list_cells | grep -q ' cell1 '"},
		},
		{Name: "nova-db-sync", Tier: TierNova, Phase: BeforeStart, User: "nova",
			Argv: []string{"nova-manage", "db", "sync"}},
		{
			// Host discovery races nova-compute's first report: run it
			// once the compute tier's probe sees the service listed.
			Name: "nova-discover-hosts", Tier: TierCompute, Phase: AfterReady, User: "nova",
			Argv: []string{"nova-manage", "cell_v2", "discover_hosts", "--verbose"},
		},

		{Name: "neutron-db-upgrade", Tier: TierNeutron, Phase: BeforeStart, User: "neutron",
			Argv: []string{"neutron-db-manage", "--config-file", NeutronConf, "--config-file", ML2Conf, "upgrade", "heads"}},
	}
	if root, _ := horizonWebRoot(p); root != DefaultWebRoot {
		// Horizon's static files are compressed offline for the web
		// root Debian configured (/horizon); another root needs them
		// rebuilt, as the postinst does when it changes the root.
		cmds = append(cmds,
			Command{Name: "horizon-collectstatic", Tier: TierDashboard, Phase: BeforeStart, User: "root",
				Argv: []string{"/usr/share/openstack-dashboard/manage.py", "collectstatic", "--noinput", "--clear"}},
			Command{Name: "horizon-compress", Tier: TierDashboard, Phase: BeforeStart, User: "root",
				Argv: []string{"/usr/share/openstack-dashboard/manage.py", "compress", "--force"}},
			Command{Name: "horizon-static-owner", Tier: TierDashboard, Phase: BeforeStart, User: "root",
				Argv: []string{"chown", "-R", "www-data", "/var/lib/openstack-dashboard/static"}},
		)
	}
	return cmds
}
