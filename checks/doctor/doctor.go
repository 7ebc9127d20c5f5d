// Package doctor answers "the lab was working and now it is not": it checks
// the lab's units, infrastructure, APIs and dashboard with the checks
// framework, ordered by dependency so the report leads with the root cause,
// and plans the safe, reversible repairs `stacklab doctor --fix` applies.
//
// Every side effect (systemd, files, commands, the network, the cloud) comes
// through Deps, so each verdict is table-tested with fakes.
package doctor

import (
	"context"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/services"
	"github.com/gophercloud/gophercloud/v2/openstack/placement/v1/resourceproviders"

	"github.com/stacklab/stacklab/checks"
	"github.com/stacklab/stacklab/installer/identity"
	"github.com/stacklab/stacklab/installer/openstack"
	"github.com/stacklab/stacklab/internal/cloud"
	"github.com/stacklab/stacklab/internal/systemd"
)

// Stable check IDs that others (fixes, scripts) refer to.
const (
	IDLabHost           = "lab-host"
	IDDisk              = "disk"
	IDMgmtAddress       = "mgmt-address"
	IDMariaDB           = "mariadb"
	IDRabbitMQ          = "rabbitmq"
	IDMemcached         = "memcached"
	IDKeystone          = "keystone"
	IDKeystoneAuth      = "keystone-auth"
	IDCatalog           = "catalog"
	IDGlance            = "glance-api"
	IDPlacement         = "placement-api"
	IDNova              = "nova-api"
	IDNeutron           = "neutron-api"
	IDComputeServices   = "compute-services"
	IDCellMapping       = "cell-mapping"
	IDPlacementInv      = "placement-inventory"
	IDNetworkAgents     = "network-agents"
	IDVirtType          = "virt-type"
	IDApache            = "apache"
	IDDashboardPage     = "dashboard-page"
	IDDashboardStatic   = "dashboard-static"
	IDDashboardKeystone = "dashboard-keystone"
	IDDashboardLogin    = "dashboard-login"
)

// UnitID is the check ID of a lab unit.
func UnitID(unit string) string { return "unit-" + unit }

// Config is what the lab should look like. On a remote cloud (--cloud) only
// KeystoneURL matters and Lab is false.
type Config struct {
	// Lab: doctor runs on the lab host; host checks run.
	Lab bool
	// NotLabReason explains why host checks cannot run (Lab false but
	// no --cloud was given); empty on a remote cloud.
	NotLabReason string
	MgmtIP       string
	Hostname     string
	// Units in start (dependency) order.
	Units []string
	// KeystoneURL is the identity endpoint to probe (…/v3).
	KeystoneURL string
	// HorizonURL is the dashboard's root, e.g. http://10.0.0.2/horizon.
	HorizonURL string
	// ConsoleURL is nova's novncproxy_base_url: the noVNC page probed
	// when no instance runs ("" skips the console check then).
	ConsoleURL string
	// AdminUser/AdminPassword/AdminDomain log in to the dashboard; the
	// domain is typed only where the login form asks for one (Horizon with
	// OPENSTACK_KEYSTONE_MULTIDOMAIN_SUPPORT, as the install guide sets it).
	AdminUser     string
	AdminPassword cloud.Secret
	AdminDomain   string
	// RabbitUser/RabbitPassword is the lab's RabbitMQ account.
	RabbitUser     string
	RabbitPassword cloud.Secret
	RabbitAddr     string
	// VirtType is nova's configured virt_type when known ("" = unknown);
	// HostVirt is what this host supports, with the reason.
	VirtType   string
	HostVirt   string
	HostReason string
	// DiskPaths are the paths whose file systems are watched.
	DiskPaths []string
	// StateFile is the install's record (labstate); empty means
	// labstate.DefaultPath.
	StateFile string
	// Probe bounds one network probe; zero means 3 s.
	Probe time.Duration
	// Region is the lab's region, as keystone's catalog has it; empty
	// means openstack.DefaultRegion.
	Region string
	// HandMade: a lab stacklab did not build, found from its own
	// configuration (labfind); advice naming stacklab's installer or
	// secrets is left out of every fix.
	HandMade bool
	// Found is what discovery read on a hand-made lab (each value with
	// its source, and what it could not find): the lab-host check's
	// evidence.
	Found []string
	// MgmtNames are host names that mean MgmtIP on this host (the install
	// guide's "controller" in /etc/hosts): endpoints written with them are
	// on the management address.
	MgmtNames []string
	// OVSBridges are the Open vSwitch bridges the lab needs (none on
	// linuxbridge).
	OVSBridges []openstack.Bridge
	// Unavailable maps a check ID to why it cannot run here and what
	// would let it (no credentials, no RabbitMQ password): a skip.
	Unavailable map[string]string
}

// DefaultDiskPaths are the file systems the lab fills.
var DefaultDiskPaths = []string{"/", "/var/lib/mysql", "/var/lib/glance", "/var/lib/nova", "/var/lib/rabbitmq"}

// Units is the slice of systemd doctor reads.
type Units interface {
	States(ctx context.Context, units ...string) ([]systemd.UnitState, error)
	JournalTail(ctx context.Context, unit string, n int) ([]string, error)
	// BootTime is when the host's services were last booted.
	BootTime(ctx context.Context) (time.Time, error)
}

// Host is the lab host's files and commands.
type Host interface {
	// DiskUsage is the used share (0–100) of the file system holding path.
	DiskUsage(path string) (float64, error)
	ReadFile(path string) ([]byte, error)
	// ReadDir names a directory's entries: none, and no error, when it
	// does not exist.
	ReadDir(path string) ([]string, error)
	// Readlink is a symbolic link's target (a process's descriptors).
	Readlink(path string) (string, error)
	// Run runs a command and returns its combined output.
	Run(ctx context.Context, name string, args ...string) ([]byte, error)
}

// Deps are doctor's side effects.
type Deps struct {
	Units Units // nil when systemd is unreachable
	Host  Host  // nil off the lab host
	// HTTP serves probes: one request each, whose answer must start
	// within a probe's time.
	HTTP *http.Client
	// Flow serves the dashboard login, several requests that its check's
	// budget bounds as a whole: on a loaded host one page may take longer
	// than a probe while the login still fits (nil: HTTP).
	Flow *http.Client
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// Cloud authenticates: once per run by Checks, once more when the
	// run's first call, made as it began, failed.
	Cloud func(ctx context.Context) (*cloud.Cloud, error)
	// Switch reads the Open vSwitch database (nil: not on this host).
	Switch Switch
	// SQL runs a query as root on the lab's MariaDB and returns its rows
	// as `mysql --batch --skip-column-names` prints them (nil: the mysql
	// client, through Host).
	SQL func(ctx context.Context, query string) ([]byte, error)
	// Now is the clock (nil: time.Now).
	Now func() time.Time
}

func (d Deps) now() time.Time {
	if d.Now != nil {
		return d.Now()
	}
	return time.Now()
}

func (d Deps) dial(ctx context.Context, addr string) (net.Conn, error) {
	if d.Dial != nil {
		return d.Dial(ctx, "tcp", addr)
	}
	var nd net.Dialer
	return nd.DialContext(ctx, "tcp", addr)
}

func (d Deps) sql(ctx context.Context, query string) ([]byte, error) {
	if d.SQL != nil {
		return d.SQL(ctx, query)
	}
	return d.Host.Run(ctx, "mysql", "--batch", "--skip-column-names", "-e", query)
}

func (d Deps) http() *http.Client {
	if d.HTTP != nil {
		return d.HTTP
	}
	return http.DefaultClient
}

func (d Deps) flow() *http.Client {
	if d.Flow != nil {
		return d.Flow
	}
	return d.http()
}

// memo runs f once and hands every caller its result; the first caller's
// context bounds it.
type memo[T any] struct {
	once sync.Once
	v    T
	err  error
}

func (m *memo[T]) get(ctx context.Context, f func(context.Context) (T, error)) (T, error) {
	m.once.Do(func() { m.v, m.err = f(ctx) })
	return m.v, m.err
}

// offer makes v the memo's value unless it was read or is being read.
func (m *memo[T]) offer(v T) { m.once.Do(func() { m.v = v }) }

// doctor holds one run's shared readings.
type doctor struct {
	cfg    Config
	d      Deps
	states memo[map[string]systemd.UnitState]
	cloud  memo[*cloud.Cloud]
	// gets shares unauthenticated GETs by URL; services is nova's
	// service list, rps placement's providers. All are one run's: doctor
	// --fix re-checks anew.
	gets       getMemo
	services   memo[[]services.Service]
	apache     memo[[]byte]
	mysqlConns memo[[]byte]
	catalog    memo[[]identity.Endpoint]
	ss         memo[[]byte]
	rps        memo[[]resourceproviders.ResourceProvider]
	// bridges is the Open vSwitch database's bridges and ports, which
	// each bridge check grades: one reading, not one per bridge.
	bridges memo[map[string][]string]
	// horizonDaemon: the dashboard-wsgi-daemon check read from Apache's
	// configuration that Horizon runs in its daemon process, which the
	// login check (behind it) reads to log in once instead of LoginTries.
	horizonDaemon atomic.Bool
	// early is the dashboard login started with the run (nil when none
	// was); set before any check runs.
	early *earlyLogin
	// authRead closes when the token and catalog startAuth read with the
	// run are in (nil when none was); set before any check runs.
	authRead chan struct{}
}

func (c Config) probe() time.Duration {
	if c.Probe > 0 {
		return c.Probe
	}
	return 3 * time.Second
}

// Checks returns doctor's checks in report order.
func Checks(cfg Config, d Deps) []checks.Check {
	d.Host = memoHost(d.Host)
	dr := &doctor{cfg: cfg, d: d}
	var list []checks.Check
	list = append(list, dr.hostChecks()...)
	list = append(list, dr.switchChecks()...)
	list = append(list, dr.infraChecks()...)
	list = append(list, dr.apiChecks()...)
	list = append(list, dr.consoleChecks()...)
	list = append(list, dr.dashboardChecks()...)
	dr.wireSwitch(list)
	return dr.adapt(dr.withCauses(list))
}

// notLab is the result of a host check off the lab host.
func (dr *doctor) notLab() (checks.Result, bool) {
	if dr.cfg.Lab {
		return checks.Result{}, false
	}
	return checks.Skipped("not the lab host: host checks do not apply to a remote cloud"), true
}
