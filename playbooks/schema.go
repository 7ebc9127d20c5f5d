// Package playbooks reads declarative YAML playbooks that describe OpenStack
// resources by name, validates them completely before anything is changed,
// and converges a cloud to them: plan, apply, destroy.
package playbooks

import (
	"errors"
	"fmt"
	"net/netip"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/stacklab/stacklab/internal/safefile"
)

// Error is one problem in a playbook, at the place the user wrote it.
type Error struct {
	File string `json:"file"`
	Line int    `json:"line"`
	Col  int    `json:"col"`
	Msg  string `json:"message"`
	// Hint is what to do about it ("did you mean ...", a command to run).
	Hint string `json:"hint,omitempty"`
	// Err is the underlying cause, when there is one, for errors.Is.
	Err error `json:"-"`
}

func (e *Error) Error() string {
	s := fmt.Sprintf("%s:%d:%d: %s", e.File, e.Line, e.Col, e.Msg)
	if e.Line == 0 {
		// No place known (the YAML itself does not parse; its message
		// names the line).
		s = fmt.Sprintf("%s: %s", e.File, e.Msg)
	}
	if e.Hint != "" {
		s += "; " + e.Hint
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

// Fix is the hint: what a playbook error tells the user to do.
func (e *Error) Fix() string { return e.Hint }

// Errors returns every *Error joined in err (as Load and Plan return them).
func Errors(err error) []*Error {
	var multi interface{ Unwrap() []error }
	if errors.As(err, &multi) {
		var out []*Error
		for _, e := range multi.Unwrap() {
			out = append(out, Errors(e)...)
		}
		return out
	}
	var e *Error
	if errors.As(err, &e) {
		return []*Error{e}
	}
	return nil
}

func joinErrors(errs []*Error) error {
	if len(errs) == 0 {
		return nil
	}
	list := make([]error, len(errs))
	for i, e := range errs {
		list[i] = e
	}
	return errors.Join(list...)
}

// Playbook is a decoded, validated playbook.
type Playbook struct {
	// Name goes into the ownership marker of everything the playbook
	// makes, so destroy can tell its resources from hand-made ones.
	Name           string          `yaml:"name"`
	Flavors        []Flavor        `yaml:"flavors"`
	Networks       []Network       `yaml:"networks"`
	Subnets        []Subnet        `yaml:"subnets"`
	Routers        []Router        `yaml:"routers"`
	SecurityGroups []SecurityGroup `yaml:"security_groups"`
	Keypairs       []Keypair       `yaml:"keypairs"`
	Images         []Image         `yaml:"images"`
	Servers        []Server        `yaml:"servers"`
	FloatingIPs    []FloatingIP    `yaml:"floating_ips"`
	Meta

	// File is the path the playbook was read from, for messages.
	File string `yaml:"-"`
}

// Flavor is a nova flavor. RAM is MiB, Disk GiB.
type Flavor struct {
	Name  string `yaml:"name"`
	VCPUs int    `yaml:"vcpus"`
	RAM   int    `yaml:"ram"`
	Disk  int    `yaml:"disk"`
	Meta
}

// Network is a neutron network: self-service (vxlan) or provider (flat
// or vlan on a physical network).
type Network struct {
	Name            string `yaml:"name"`
	Type            string `yaml:"type"`
	PhysicalNetwork string `yaml:"physical_network"`
	SegmentationID  int    `yaml:"segmentation_id"`
	External        bool   `yaml:"external"`
	Shared          bool   `yaml:"shared"`
	Meta
}

// Pool is an allocation pool, both ends included.
type Pool struct {
	Start string `yaml:"start"`
	End   string `yaml:"end"`
	Meta
}

// Subnet is an IPv4 or IPv6 subnet of a network. DHCP defaults to on, as
// in neutron.
type Subnet struct {
	Name            string   `yaml:"name"`
	Network         string   `yaml:"network"`
	CIDR            string   `yaml:"cidr"`
	Gateway         string   `yaml:"gateway"`
	AllocationPools []Pool   `yaml:"allocation_pools"`
	DHCP            *bool    `yaml:"dhcp"`
	DNS             []string `yaml:"dns"`
	Meta
}

// DHCPEnabled is the effective DHCP setting.
func (s Subnet) DHCPEnabled() bool { return s.DHCP == nil || *s.DHCP }

// Router is a neutron router with an external gateway and interfaces on
// subnets.
type Router struct {
	Name            string   `yaml:"name"`
	ExternalGateway string   `yaml:"external_gateway"`
	Interfaces      []string `yaml:"interfaces"`
	Meta
}

// Rule is one ingress or egress security group rule.
type Rule struct {
	Direction string `yaml:"direction"`
	Protocol  string `yaml:"protocol"`
	Port      int    `yaml:"port"`
	PortMax   int    `yaml:"port_max"`
	RemoteIP  string `yaml:"remote_ip"`
	Meta
}

// String is the rule in one canonical line, used to compare rule sets.
func (r Rule) String() string {
	dir := r.Direction
	if dir == "" {
		dir = "ingress"
	}
	remote := r.RemoteIP
	if remote == "" {
		remote = "0.0.0.0/0"
	}
	s := dir + " " + r.Protocol
	if r.Port != 0 {
		hi := r.PortMax
		if hi == 0 {
			hi = r.Port
		}
		s += fmt.Sprintf(" %d-%d", r.Port, hi)
	}
	return s + " from " + remote
}

// SecurityGroup is a neutron security group and its rules.
type SecurityGroup struct {
	Name  string `yaml:"name"`
	Rules []Rule `yaml:"rules"`
	Meta
}

// Keypair is a nova keypair: PublicKey or PublicKeyFile imported, or
// Generate a new one whose private key is written (0600) to PrivateKeyFile.
type Keypair struct {
	Name           string `yaml:"name"`
	PublicKey      string `yaml:"public_key"`
	PublicKeyFile  string `yaml:"public_key_file"`
	Generate       bool   `yaml:"generate"`
	PrivateKeyFile string `yaml:"private_key_file"`
	Meta

	// PrivateKeyPath is PrivateKeyFile resolved against the playbook's
	// directory.
	PrivateKeyPath string `yaml:"-"`
}

// Image is a glance image uploaded from a local file. DiskFormat, when
// given, must match what the file is; DetectedFormat is what Load found.
type Image struct {
	Name            string `yaml:"name"`
	File            string `yaml:"file"`
	DiskFormat      string `yaml:"disk_format"`
	ContainerFormat string `yaml:"container_format"`
	MinDisk         int    `yaml:"min_disk"`
	MinRAM          int    `yaml:"min_ram"`
	Visibility      string `yaml:"visibility"`
	// Build names a recipe that makes the file when it is absent (a later
	// issue adds "tiny"); until then an absent file with Build set is not
	// an error, and the image cannot be applied.
	Build string `yaml:"build"`
	// Convert "qcow2" uploads File converted to qcow2 (stacklab image
	// convert, cached under the state dir): the student hands in the
	// VirtualBox or VMware disk they have.
	Convert string `yaml:"convert"`
	// FromServer makes the image a snapshot of that server (nova
	// createImage) instead of an upload; it has no File.
	FromServer string `yaml:"from_server"`
	Meta

	// DetectedFormat is the glance disk_format glance receives: File's
	// own, or qcow2 when converted. "" if File is absent.
	DetectedFormat string `yaml:"-"`
	// SourceFormat is File's own format when Convert is set.
	SourceFormat string `yaml:"-"`
	// VirtualSize is the guest disk's size in bytes, 0 if File is absent.
	VirtualSize int64 `yaml:"-"`
	// UploadSize bounds what glance stores: File's size, or the virtual
	// size when it is yet to be converted (qcow2 holds at most that).
	UploadSize int64 `yaml:"-"`
	// Path is File resolved against the playbook's directory.
	Path string `yaml:"-"`
}

// Server is a nova server, waited for until ACTIVE and, when Console is
// set, until its serial console shows a line matching Console: ACTIVE
// only says qemu runs, not that the guest booted.
type Server struct {
	Name           string   `yaml:"name"`
	Flavor         string   `yaml:"flavor"`
	Image          string   `yaml:"image"`
	Networks       []string `yaml:"networks"`
	Keypair        string   `yaml:"keypair"`
	SecurityGroups []string `yaml:"security_groups"`
	// Console is a regular expression (RE2) a console line must match.
	Console string `yaml:"console"`
	// Timeout bounds the wait for ACTIVE and the console line, in
	// seconds; 0 means DefaultServerTimeout.
	Timeout int `yaml:"timeout"`
	Meta
}

// DefaultServerTimeout is how long a server may take to be ready, in
// seconds: a TCG guest on a loaded 2-core lab needs about a minute.
const DefaultServerTimeout = 300

// ConsoleRE is Console compiled; nil when unset. Load has validated it.
func (s Server) ConsoleRE() *regexp.Regexp {
	if s.Console == "" {
		return nil
	}
	return regexp.MustCompile(s.Console)
}

// WaitTimeout is the effective Timeout.
func (s Server) WaitTimeout() time.Duration {
	if s.Timeout <= 0 {
		return DefaultServerTimeout * time.Second
	}
	return time.Duration(s.Timeout) * time.Second
}

// FloatingIP is a floating IP from an external network attached to a
// server. Name is how the playbook refers to it (kept in its description).
type FloatingIP struct {
	Name    string `yaml:"name"`
	Network string `yaml:"network"`
	Server  string `yaml:"server"`
	// Ping, once the address is attached, waits until it answers ICMP
	// echo from where stacklab runs (from the router's namespace on the
	// lab's own network node), and names the hop that failed when it
	// does not. It is a check, not cloud state: an unchanged floating IP
	// is not pinged again.
	Ping bool `yaml:"ping"`
	// PingTimeout bounds that wait, in seconds; 0 means DefaultPingTimeout.
	PingTimeout int `yaml:"ping_timeout"`
	// ServerConsole is the console pattern of Server when this playbook
	// declares it: what the diagnosis of a silent address looks for.
	ServerConsole string `yaml:"-"`
	Meta
}

// DefaultPingTimeout is how long a floating IP may take to answer, in
// seconds: the l3 agent sets up the NAT a few seconds after the
// association.
const DefaultPingTimeout = 60

// PingWait is the effective PingTimeout.
func (f FloatingIP) PingWait() time.Duration {
	if f.PingTimeout <= 0 {
		return DefaultPingTimeout * time.Second
	}
	return time.Duration(f.PingTimeout) * time.Second
}

type validator struct {
	d   *decoder
	pb  *Playbook
	dir string
}

// errorf reports a semantic problem, unless the decoder already reported
// one at that very place: a value of the wrong type was left zero, and
// "vcpus must be at least 1" under "want a whole number" only adds noise.
func (v *validator) errorf(p Pos, hint, format string, args ...any) {
	for _, e := range v.d.errs {
		if e.Line == p.Line && e.Col == p.Col {
			return
		}
	}
	v.d.errorf(p, hint, format, args...)
}

func (v *validator) validate() {
	pb := v.pb
	if pb.Name == "" {
		v.errorf(pb.pos("name"), "add name: NAME at the top; it marks what this playbook owns", "the playbook has no name")
	}
	seen := map[Kind]map[string]bool{}
	for _, r := range resources(pb) {
		if r.Name == "" {
			v.errorf(r.At, "", "a %s without a name", r.Kind)
			continue
		}
		if seen[r.Kind] == nil {
			seen[r.Kind] = map[string]bool{}
		}
		if seen[r.Kind][r.Name] {
			v.errorf(r.At, "give it another name", "%s %q declared twice", r.Kind, r.Name)
		}
		seen[r.Kind][r.Name] = true
	}
	for _, f := range pb.Flavors {
		for key, n := range map[string]int{"vcpus": f.VCPUs, "ram": f.RAM} {
			if n <= 0 {
				v.errorf(f.pos(key), "", "flavor %s: %s must be at least 1", f.Name, key)
			}
		}
		if f.Disk < 0 {
			v.errorf(f.pos("disk"), "", "flavor %s: disk must not be negative", f.Name)
		}
	}
	for _, n := range pb.Networks {
		v.network(n)
	}
	for _, s := range pb.Subnets {
		v.subnet(s)
	}
	for _, sg := range pb.SecurityGroups {
		for _, r := range sg.Rules {
			v.rule(sg.Name, r)
		}
	}
	for i := range pb.Keypairs {
		v.keypair(&pb.Keypairs[i])
	}
	for i := range pb.Images {
		v.image(&pb.Images[i])
	}
	for _, s := range pb.Servers {
		if s.Flavor == "" || s.Image == "" || len(s.Networks) == 0 {
			v.errorf(s.At, "", "server %s needs flavor, image and networks", s.Name)
		}
		v.serverFits(s)
		v.snapshotCycle(s)
		if s.Console != "" {
			if _, err := regexp.Compile(s.Console); err != nil {
				v.errorf(s.pos("console"), "write an RE2 regular expression, e.g. console: '^stacklab-guest up '", "server %s: console: %v", s.Name, err)
			}
		}
		if s.Timeout < 0 {
			v.errorf(s.pos("timeout"), "", "server %s: timeout must be a number of seconds ≥ 0", s.Name)
		}
	}
	for _, f := range pb.FloatingIPs {
		if f.Network == "" {
			v.errorf(f.pos("network"), "", "floating IP %s needs the network it comes from", f.Name)
		}
		if f.Ping && f.Server == "" {
			v.errorf(f.pos("ping"), "attach it to a server (server: NAME) or drop ping", "floating IP %s: ping needs a server behind the address", f.Name)
		}
		if f.PingTimeout < 0 {
			v.errorf(f.pos("ping_timeout"), "", "floating IP %s: ping_timeout must be a number of seconds ≥ 0", f.Name)
		}
	}
	v.references()
}

func (v *validator) network(n Network) {
	switch n.Type {
	case "vxlan", "":
		if n.PhysicalNetwork != "" {
			v.errorf(n.pos("physical_network"), "use type: flat or vlan for a provider network", "network %s: a vxlan network has no physical_network", n.Name)
		}
	case "flat", "vlan":
		if n.PhysicalNetwork == "" {
			v.errorf(n.pos("type"), "add physical_network: provider", "network %s: a %s network needs physical_network", n.Name, n.Type)
		}
		if n.Type == "vlan" && (n.SegmentationID < 1 || n.SegmentationID > 4094) {
			v.errorf(n.pos("segmentation_id"), "", "network %s: a vlan network needs segmentation_id 1-4094", n.Name)
		}
	default:
		hint := ""
		if s := suggest(n.Type, []string{"vxlan", "flat", "vlan"}); s != "" {
			hint = fmt.Sprintf("did you mean %q?", s)
		}
		v.errorf(n.pos("type"), hint, "network %s: unknown type %q (vxlan, flat or vlan)", n.Name, n.Type)
	}
}

func (v *validator) subnet(s Subnet) {
	if s.Network == "" {
		v.errorf(s.pos("network"), "", "subnet %s needs a network", s.Name)
	}
	if s.CIDR == "" {
		v.errorf(s.pos("cidr"), "e.g. cidr: 172.16.1.0/24", "subnet %s needs a cidr", s.Name)
		return
	}
	prefix, err := netip.ParsePrefix(s.CIDR)
	if err != nil {
		v.errorf(s.pos("cidr"), "write it as ADDRESS/BITS, e.g. 172.16.1.0/24", "subnet %s: bad cidr %q", s.Name, s.CIDR)
		return
	}
	if prefix.Masked() != prefix {
		v.errorf(s.pos("cidr"), fmt.Sprintf("did you mean %s?", prefix.Masked()), "subnet %s: cidr %s has host bits set", s.Name, s.CIDR)
	}
	in := func(key, what, addr string, p Pos) (netip.Addr, bool) {
		a, err := netip.ParseAddr(addr)
		if err != nil {
			v.errorf(p, "", "subnet %s: bad %s %q", s.Name, what, addr)
			return a, false
		}
		if !prefix.Contains(a) {
			v.errorf(p, fmt.Sprintf("use an address inside %s", prefix.Masked()), "subnet %s: %s %s is outside %s", s.Name, what, addr, s.CIDR)
			return a, false
		}
		return a, true
	}
	if s.Gateway != "" {
		in("gateway", "gateway", s.Gateway, s.pos("gateway"))
	}
	for _, p := range s.AllocationPools {
		lo, ok1 := in("start", "pool start", p.Start, p.pos("start"))
		hi, ok2 := in("end", "pool end", p.End, p.pos("end"))
		if ok1 && ok2 && hi.Less(lo) {
			v.errorf(p.At, "swap start and end", "subnet %s: pool %s-%s ends before it starts", s.Name, p.Start, p.End)
		}
	}
	for i, dns := range s.DNS {
		if _, err := netip.ParseAddr(dns); err != nil {
			v.errorf(s.pos("dns"), "", "subnet %s: dns[%d] %q is not an IP address", s.Name, i, dns)
		}
	}
}

func (v *validator) rule(sg string, r Rule) {
	switch r.Protocol {
	case "icmp":
		if r.Port != 0 {
			v.errorf(r.pos("port"), "remove port", "security group %s: an icmp rule has no port", sg)
		}
	case "tcp", "udp":
		if r.Port < 1 || r.Port > 65535 {
			v.errorf(r.pos("port"), "e.g. port: 22", "security group %s: a %s rule needs a port 1-65535", sg, r.Protocol)
		}
		if r.PortMax != 0 && (r.PortMax < r.Port || r.PortMax > 65535) {
			v.errorf(r.pos("port_max"), "", "security group %s: port_max %d is not in %d-65535", sg, r.PortMax, r.Port)
		}
	default:
		v.errorf(r.pos("protocol"), "", "security group %s: unknown protocol %q (icmp, tcp or udp)", sg, r.Protocol)
	}
	switch r.Direction {
	case "", "ingress", "egress":
	default:
		v.errorf(r.pos("direction"), "", "security group %s: direction %q is neither ingress nor egress", sg, r.Direction)
	}
	if r.RemoteIP != "" {
		if _, err := netip.ParsePrefix(r.RemoteIP); err != nil {
			v.errorf(r.pos("remote_ip"), "write it as ADDRESS/BITS, e.g. 0.0.0.0/0", "security group %s: bad remote_ip %q", sg, r.RemoteIP)
		}
	}
}

func (v *validator) keypair(k *Keypair) {
	if k.PrivateKeyFile != "" {
		k.PrivateKeyPath = v.path(k.PrivateKeyFile)
	}
	sources := 0
	for _, set := range []bool{k.PublicKey != "", k.PublicKeyFile != "", k.Generate} {
		if set {
			sources++
		}
	}
	if sources != 1 {
		v.errorf(k.At, "set exactly one", "keypair %s: give one of public_key, public_key_file or generate: true", k.Name)
	}
	if k.Generate && k.PrivateKeyFile == "" {
		v.errorf(k.pos("generate"), "add private_key_file: PATH", "keypair %s: a generated key needs private_key_file to be written to", k.Name)
	}
	if !k.Generate && k.PrivateKeyFile != "" {
		v.errorf(k.pos("private_key_file"), "", "keypair %s: private_key_file is only written for generate: true", k.Name)
	}
	key, at := k.PublicKey, k.pos("public_key")
	if k.PublicKeyFile != "" && k.PublicKey == "" {
		at = k.pos("public_key_file")
		data, err := safefile.ReadRegular(v.path(k.PublicKeyFile), MaxKeyFileBytes)
		if err != nil {
			v.errorf(at, "", "keypair %s: %v", k.Name, err)
			return
		}
		// Read now so that plan compares the key itself, as nova has it.
		key = string(data)
		k.PublicKey = strings.TrimSpace(key)
	}
	if key != "" && !looksLikeSSHKey(key) {
		v.errorf(at, "give the .pub file, one line such as ssh-ed25519 AAAA... user@host", "keypair %s: not an OpenSSH public key", k.Name)
	}
}

func looksLikeSSHKey(s string) bool {
	fields := strings.Fields(s)
	if len(fields) < 2 {
		return false
	}
	for _, prefix := range []string{"ssh-", "ecdsa-", "sk-"} {
		if strings.HasPrefix(fields[0], prefix) {
			return true
		}
	}
	return false
}

func (v *validator) path(p string) string {
	if filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(v.dir, p)
}

// references checks that every reference names something of the right
// kind. A name not declared may still exist in the cloud, so that is left
// to Plan; a name declared as another kind is always wrong.
func (v *validator) references() {
	for _, r := range resources(v.pb) {
		for _, ref := range r.Refs {
			if ref.Name == "" {
				continue
			}
			if ref.Kind == KindNetwork && r.Kind == KindFloatingIP || r.Kind == KindRouter && ref.Kind == KindNetwork {
				for _, n := range v.pb.Networks {
					if n.Name == ref.Name && !n.External {
						v.errorf(ref.At, "set external: true on it", "%s %s: network %s is not external", r.Kind, r.Name, ref.Name)
					}
				}
			}
		}
	}
}
