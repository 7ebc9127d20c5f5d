package openstack

import (
	"crypto/md5" // glance's legacy checksum
	"crypto/sha512"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/stacklab/stacklab/internal/cloud"
	"github.com/stacklab/stacklab/internal/cloud/cloudtest"
)

// obj is one fake resource in its API's JSON shape.
type obj = map[string]any

// fakeOpenStack is just enough of nova, neutron and glance, in memory, for
// the drivers: behind the fake keystone's catalog, reached by gophercloud.
type fakeOpenStack struct {
	t   testing.TB
	srv *httptest.Server

	mu   sync.Mutex
	next int
	// colls holds neutron collections by URL name, nova's "flavors",
	// "keypairs" and "servers", and glance's "images".
	colls map[string][]obj
	polls map[string]int
	// given are the ports a server was created on: nova binds them, and
	// on the server's delete unbinds them and leaves them, as real nova
	// keeps ports it did not make.
	given map[string]bool

	// ServerStatus decides a server's status on its n-th read (n from 1);
	// nil: ACTIVE at once.
	ServerStatus func(name string, n int) (status, fault string)
	// Console is a server's console output on its n-th read.
	Console func(name string, n int) string
	// RefuseServers makes nova answer every server create with a 500.
	RefuseServers bool
	// CorruptUpload makes glance report another sha512 than it received.
	CorruptUpload bool
	// Gate, when set, is called before a request is served, without the
	// lock: it may hold the request back.
	Gate func(r *http.Request)

	// ks is the keystone in front of it: a request must carry a token
	// keystone accepts now, as the real services check.
	ks *cloudtest.Keystone
	// reqs logs every request served, "METHOD /path"; rejected counts
	// those refused for their token.
	reqs     []string
	rejected int
	// cloudsFile and tokens are what every open shares.
	cloudsFile string
	tokens     cloud.TokenDir
}

var neutronSingular = map[string]string{
	"networks": "network", "subnets": "subnet", "routers": "router", "ports": "port",
	"security-groups": "security_group", "security-group-rules": "security_group_rule", "floatingips": "floatingip",
}

func newFake(t testing.TB) *fakeOpenStack {
	f := &fakeOpenStack{t: t, colls: map[string][]obj{}, polls: map[string]int{}, given: map[string]bool{}}
	f.srv = httptest.NewServer(f)
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeOpenStack) id(prefix string) string {
	f.next++
	return fmt.Sprintf("%s-%04d", prefix, f.next)
}

// put adds a resource as if made by hand; it returns its ID.
func (f *fakeOpenStack) put(coll string, o obj) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.add(coll, o)
}

func (f *fakeOpenStack) add(coll string, o obj) string {
	if o["id"] == nil {
		o["id"] = f.id(coll)
	}
	f.colls[coll] = append(f.colls[coll], o)
	return o["id"].(string)
}

// all returns a copy of a collection.
func (f *fakeOpenStack) all(coll string) []obj {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]obj(nil), f.colls[coll]...)
}

func (f *fakeOpenStack) find(coll, key, value string) (obj, int) {
	for i, o := range f.colls[coll] {
		if fmt.Sprint(o[key]) == value {
			return o, i
		}
	}
	return nil, -1
}

func (f *fakeOpenStack) remove(coll string, i int) {
	f.colls[coll] = append(f.colls[coll][:i:i], f.colls[coll][i+1:]...)
}

func (f *fakeOpenStack) removeWhere(coll, key, value string) {
	var keep []obj
	for _, o := range f.colls[coll] {
		if fmt.Sprint(o[key]) != value {
			keep = append(keep, o)
		}
	}
	f.colls[coll] = keep
}

func reply(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	if body != nil {
		_ = json.NewEncoder(w).Encode(body)
	}
}

func notFound(w http.ResponseWriter) {
	reply(w, http.StatusNotFound, obj{"itemNotFound": obj{"message": "not found", "code": 404}})
}

func (f *fakeOpenStack) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.reqs = append(f.reqs, r.Method+" "+r.URL.Path)
	ks, gate := f.ks, f.Gate
	f.mu.Unlock()
	if gate != nil {
		gate(r)
	}
	if ks != nil && !ks.TokenValid(r.Header.Get("X-Auth-Token")) {
		f.mu.Lock()
		f.rejected++
		f.mu.Unlock()
		reply(w, http.StatusUnauthorized, obj{"error": obj{"code": 401, "message": "The request you have made requires authentication."}})
		return
	}
	// The upload streams and must not hold the lock while it reads.
	if r.Method == http.MethodPut && strings.HasPrefix(r.URL.Path, "/image/v2/images/") && strings.HasSuffix(r.URL.Path, "/file") {
		f.upload(w, r)
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	var body obj
	if r.Body != nil && r.Method != http.MethodGet {
		data, _ := io.ReadAll(r.Body)
		if len(data) > 0 && r.Header.Get("Content-Type") != "application/openstack-images-v2.1-json-patch" {
			if err := json.Unmarshal(data, &body); err != nil {
				reply(w, 400, obj{"error": err.Error()})
				return
			}
		} else if len(data) > 0 {
			body = obj{"patch": json.RawMessage(data)}
		}
	}
	p := strings.Trim(r.URL.Path, "/")
	switch {
	case p == "network" || p == "image":
		id := map[string]string{"network": "v2.0", "image": "v2.16"}[p]
		reply(w, 200, obj{"versions": []obj{{"id": id, "status": "CURRENT", "links": []obj{}}}})
	case strings.HasPrefix(p, "network/v2.0/"):
		f.neutron(w, r, strings.Split(strings.TrimPrefix(p, "network/v2.0/"), "/"), body)
	case strings.HasPrefix(p, "compute/v2.1/"):
		f.nova(w, r, strings.Split(strings.TrimPrefix(p, "compute/v2.1/"), "/"), body)
	case strings.HasPrefix(p, "image/v2/"):
		f.glance(w, r, strings.Split(strings.TrimPrefix(p, "image/v2/"), "/"), body)
	default:
		notFound(w)
	}
}

// matches applies neutron-style equality filters from the query.
func matches(o obj, q map[string][]string) bool {
	for k, vs := range q {
		if k == "fields" || k == "limit" || k == "marker" {
			continue
		}
		if fmt.Sprint(o[k]) != vs[0] {
			return false
		}
	}
	return true
}

func (f *fakeOpenStack) neutron(w http.ResponseWriter, r *http.Request, seg []string, body obj) {
	coll := seg[0]
	single, ok := neutronSingular[coll]
	if !ok {
		notFound(w)
		return
	}
	switch {
	case len(seg) == 1 && r.Method == http.MethodGet:
		out := []obj{}
		for _, o := range f.colls[coll] {
			if matches(o, r.URL.Query()) {
				if coll == "security-groups" {
					f.embedRules(o)
				}
				out = append(out, o)
			}
		}
		reply(w, 200, obj{strings.ReplaceAll(coll, "-", "_"): out})
	case len(seg) == 1 && r.Method == http.MethodPost:
		o, _ := body[single].(obj)
		f.neutronDefaults(coll, o)
		f.add(coll, o)
		if coll == "security-groups" {
			for _, eth := range []string{"IPv4", "IPv6"} {
				f.add("security-group-rules", obj{"direction": "egress", "ethertype": eth, "security_group_id": o["id"],
					"protocol": nil, "port_range_min": nil, "port_range_max": nil, "remote_ip_prefix": nil, "remote_group_id": nil})
			}
		}
		reply(w, 201, obj{single: o})
	case len(seg) == 2:
		o, i := f.find(coll, "id", seg[1])
		if o == nil {
			notFound(w)
			return
		}
		switch r.Method {
		case http.MethodGet:
			if coll == "security-groups" {
				f.embedRules(o)
			}
			reply(w, 200, obj{single: o})
		case http.MethodPut:
			for k, v := range body[single].(obj) {
				o[k] = v
			}
			if coll == "floatingips" {
				f.fipFixedIP(o)
			}
			reply(w, 200, obj{single: o})
		case http.MethodDelete:
			if coll == "routers" {
				if p, _ := f.find("ports", "device_id", seg[1]); p != nil && p["device_owner"] == "network:router_interface" {
					reply(w, 409, obj{"NeutronError": obj{"message": "router has interfaces"}})
					return
				}
			}
			f.remove(coll, i)
			if coll == "security-groups" {
				f.removeWhere("security-group-rules", "security_group_id", seg[1])
			}
			reply(w, 204, nil)
		}
	case len(seg) == 3 && coll == "routers":
		sub := fmt.Sprint(body["subnet_id"])
		switch seg[2] {
		case "add_router_interface":
			s, _ := f.find("subnets", "id", sub)
			if s == nil {
				notFound(w)
				return
			}
			port := obj{"device_id": seg[1], "device_owner": "network:router_interface", "network_id": s["network_id"],
				"fixed_ips": []obj{{"subnet_id": sub, "ip_address": s["gateway_ip"]}}}
			f.add("ports", port)
			reply(w, 200, obj{"id": seg[1], "subnet_id": sub, "port_id": port["id"]})
		case "remove_router_interface":
			for i, p := range f.colls["ports"] {
				ips, _ := p["fixed_ips"].([]obj)
				if p["device_id"] == seg[1] && len(ips) > 0 && ips[0]["subnet_id"] == sub {
					f.remove("ports", i)
					reply(w, 200, obj{"id": seg[1], "subnet_id": sub})
					return
				}
			}
			notFound(w)
		}
	default:
		notFound(w)
	}
}

// embedRules puts a group's rules in it, as neutron does when it lists or
// shows groups.
func (f *fakeOpenStack) embedRules(g obj) {
	rs := []obj{}
	for _, r := range f.colls["security-group-rules"] {
		if r["security_group_id"] == g["id"] {
			rs = append(rs, r)
		}
	}
	g["security_group_rules"] = rs
}

func setDefault(o obj, k string, v any) {
	if _, ok := o[k]; !ok {
		o[k] = v
	}
}

func (f *fakeOpenStack) neutronDefaults(coll string, o obj) {
	setDefault(o, "description", "")
	switch coll {
	case "networks":
		setDefault(o, "shared", false)
		setDefault(o, "router:external", false)
		setDefault(o, "provider:network_type", "vxlan")
		setDefault(o, "provider:physical_network", nil)
		setDefault(o, "provider:segmentation_id", 1000+f.next)
	case "subnets":
		// The fake only ever sees /24s: .1 is the gateway, the rest the pool.
		base := strings.TrimSuffix(fmt.Sprint(o["cidr"]), "0/24")
		setDefault(o, "gateway_ip", base+"1")
		setDefault(o, "allocation_pools", []obj{{"start": base + "2", "end": base + "254"}})
		setDefault(o, "enable_dhcp", true)
		setDefault(o, "dns_nameservers", []string{})
	case "ports":
		setDefault(o, "device_id", "")
		setDefault(o, "device_owner", "")
		setDefault(o, "status", "DOWN")
		setDefault(o, "security_groups", []string{})
		sub, _ := f.find("subnets", "network_id", fmt.Sprint(o["network_id"]))
		ip, subID := "", ""
		if sub != nil {
			ip, subID = strings.TrimSuffix(fmt.Sprint(sub["cidr"]), "0/24")+fmt.Sprint(10+f.next%200), fmt.Sprint(sub["id"])
		}
		setDefault(o, "fixed_ips", []obj{{"subnet_id": subID, "ip_address": ip}})
	case "floatingips":
		o["floating_ip_address"] = fmt.Sprintf("203.0.113.%d", 100+f.next%100)
		setDefault(o, "port_id", nil)
		f.fipFixedIP(o)
	}
}

// fipFixedIP sets what neutron derives from the association: the fixed
// IP, the router that NATs it (the one with a gateway on its network) and
// the status the l3 agent reports once it is wired.
func (f *fakeOpenStack) fipFixedIP(o obj) {
	o["fixed_ip_address"], o["router_id"], o["status"], o["port_details"] = nil, nil, "DOWN", nil
	if p, _ := f.find("ports", "id", fmt.Sprint(o["port_id"])); p != nil {
		o["fixed_ip_address"] = p["fixed_ips"].([]obj)[0]["ip_address"]
		o["port_details"] = obj{"device_id": p["device_id"], "device_owner": p["device_owner"], "status": p["status"]}
		for _, r := range f.colls["routers"] {
			if gw, _ := r["external_gateway_info"].(obj); gw != nil && gw["network_id"] == o["floating_network_id"] {
				o["router_id"], o["status"] = r["id"], "ACTIVE"
			}
		}
	}
}

func (f *fakeOpenStack) nova(w http.ResponseWriter, r *http.Request, seg []string, body obj) {
	if r.Header.Get("X-OpenStack-Nova-API-Version") != computeMicroversion {
		reply(w, 400, obj{"badRequest": obj{"message": "wrong microversion " + r.Header.Get("X-OpenStack-Nova-API-Version")}})
		return
	}
	switch {
	case seg[0] == "flavors" && len(seg) == 2 && seg[1] == "detail":
		reply(w, 200, obj{"flavors": orEmpty(f.colls["flavors"])})
	case seg[0] == "flavors" && len(seg) == 1 && r.Method == http.MethodPost:
		o := body["flavor"].(obj)
		setDefault(o, "description", nil)
		f.add("flavors", o)
		reply(w, 200, obj{"flavor": o})
	case seg[0] == "flavors" && len(seg) == 2 && r.Method == http.MethodDelete:
		f.deleteBy(w, "flavors", "id", seg[1])
	case seg[0] == "os-keypairs" && len(seg) == 1 && r.Method == http.MethodPost:
		o := body["keypair"].(obj)
		if k, _ := f.find("keypairs", "name", fmt.Sprint(o["name"])); k != nil {
			reply(w, 409, obj{"conflictingRequest": obj{"message": "exists"}})
			return
		}
		o["type"] = "ssh"
		f.add("keypairs", o)
		reply(w, 200, obj{"keypair": o})
	case seg[0] == "os-keypairs" && len(seg) == 2:
		k, _ := f.find("keypairs", "name", seg[1])
		if k == nil {
			notFound(w)
			return
		}
		if r.Method == http.MethodDelete {
			f.deleteBy(w, "keypairs", "name", seg[1])
			return
		}
		reply(w, 200, obj{"keypair": k})
	case seg[0] == "servers":
		f.servers(w, r, seg, body)
	default:
		notFound(w)
	}
}

func orEmpty(l []obj) []obj {
	if l == nil {
		return []obj{}
	}
	return l
}

func (f *fakeOpenStack) deleteBy(w http.ResponseWriter, coll, key, value string) {
	_, i := f.find(coll, key, value)
	if i < 0 {
		notFound(w)
		return
	}
	f.remove(coll, i)
	reply(w, 202, nil)
}

// serverView is a stored server as nova shows it, its status advanced by
// ServerStatus.
func (f *fakeOpenStack) serverView(s obj) obj {
	name := fmt.Sprint(s["name"])
	f.polls[name]++
	if s["status"] != "ACTIVE" && s["status"] != "ERROR" {
		status, fault := "ACTIVE", ""
		if f.ServerStatus != nil {
			status, fault = f.ServerStatus(name, f.polls[name])
		}
		s["status"] = status
		if fault != "" {
			s["fault"] = obj{"message": fault, "code": 500}
		}
	}
	return s
}

func (f *fakeOpenStack) servers(w http.ResponseWriter, r *http.Request, seg []string, body obj) {
	switch {
	case len(seg) == 2 && seg[1] == "detail":
		re := regexp.MustCompile(r.URL.Query().Get("name"))
		out := []obj{}
		for _, s := range f.colls["servers"] {
			if re.MatchString(fmt.Sprint(s["name"])) {
				out = append(out, f.serverView(s))
			}
		}
		reply(w, 200, obj{"servers": out})
	case len(seg) == 1 && r.Method == http.MethodPost:
		if f.RefuseServers {
			reply(w, 500, obj{"computeFault": obj{"message": "Unexpected API Error."}})
			return
		}
		in := body["server"].(obj)
		flavor, _ := f.find("flavors", "id", fmt.Sprint(in["flavorRef"]))
		if flavor == nil {
			reply(w, 400, obj{"badRequest": obj{"message": "flavor not found"}})
			return
		}
		s := obj{"name": in["name"], "description": in["description"], "status": "BUILD", "key_name": in["key_name"],
			"flavor": obj{"original_name": flavor["name"]}, "image": obj{"id": in["imageRef"]},
			"OS-EXT-STS:task_state": "spawning", "OS-EXT-STS:power_state": 0}
		var groups []obj
		var groupIDs []string
		for _, g := range asList(in["security_groups"]) {
			sg, _ := f.find("security-groups", "id", fmt.Sprint(g.(obj)["name"]))
			groups = append(groups, obj{"name": sg["name"]})
			groupIDs = append(groupIDs, fmt.Sprint(sg["id"]))
		}
		var givenPorts []obj
		for _, n := range asList(in["networks"]) {
			id, _ := n.(obj)["port"].(string)
			if id == "" {
				continue
			}
			p, _ := f.find("ports", "id", id)
			if p == nil {
				reply(w, 400, obj{"badRequest": obj{"message": "Port " + id + " could not be found."}})
				return
			}
			if p["device_id"] != "" {
				reply(w, 409, obj{"conflictingRequest": obj{"message": "Port " + id + " is still in use."}})
				return
			}
			givenPorts = append(givenPorts, p)
			// Nova applies no group to a port it is given: the server
			// shows the port's.
			for _, g := range asList(p["security_groups"]) {
				if sg, _ := f.find("security-groups", "id", fmt.Sprint(g)); sg != nil {
					groups = append(groups, obj{"name": sg["name"]})
				}
			}
		}
		s["security_groups"] = groups
		id := f.add("servers", s)
		for _, p := range givenPorts {
			p["device_id"], p["device_owner"], p["status"], p["binding:vif_type"] = id, "compute:nova", "ACTIVE", "bridge"
			f.given[fmt.Sprint(p["id"])] = true
		}
		for i, n := range asList(in["networks"]) {
			if n.(obj)["uuid"] == nil {
				continue
			}
			f.add("ports", obj{"device_id": id, "device_owner": "compute:nova", "network_id": n.(obj)["uuid"],
				"status": "ACTIVE", "binding:vif_type": "bridge", "description": "",
				"security_groups": groupIDs, "fixed_ips": []obj{{"subnet_id": "", "ip_address": fmt.Sprintf("172.16.1.%d", 10+i)}}})
		}
		reply(w, 202, obj{"server": obj{"id": id}})
	case len(seg) == 2:
		s, _ := f.find("servers", "id", seg[1])
		if s == nil {
			notFound(w)
			return
		}
		if r.Method == http.MethodDelete {
			f.deleteBy(w, "servers", "id", seg[1])
			var keep []obj
			for _, p := range f.colls["ports"] {
				switch {
				case p["device_id"] != seg[1]:
				case f.given[fmt.Sprint(p["id"])]:
					p["device_id"], p["device_owner"], p["status"] = "", "", "DOWN"
				default:
					continue
				}
				keep = append(keep, p)
			}
			f.colls["ports"] = keep
			return
		}
		reply(w, 200, obj{"server": f.serverView(s)})
	case len(seg) == 3 && seg[2] == "action":
		s, _ := f.find("servers", "id", seg[1])
		if s == nil {
			notFound(w)
			return
		}
		switch {
		case body["os-getConsoleOutput"] != nil:
			name := fmt.Sprint(s["name"])
			f.polls[name+"/console"]++
			out := ""
			if f.Console != nil {
				out = f.Console(name, f.polls[name+"/console"])
			}
			reply(w, 200, obj{"output": out})
		case body["createImage"] != nil:
			f.createImage(w, s, body["createImage"].(obj))
		case body["addSecurityGroup"] != nil:
			s["security_groups"] = append(asList(s["security_groups"]), obj{"name": body["addSecurityGroup"].(obj)["name"]})
			reply(w, 202, nil)
		case body["removeSecurityGroup"] != nil:
			var keep []any
			for _, g := range asList(s["security_groups"]) {
				if g.(obj)["name"] != body["removeSecurityGroup"].(obj)["name"] {
					keep = append(keep, g)
				}
			}
			s["security_groups"] = keep
			reply(w, 202, nil)
		default:
			reply(w, 400, obj{"badRequest": obj{"message": "unknown action"}})
		}
	default:
		notFound(w)
	}
}

func (f *fakeOpenStack) glance(w http.ResponseWriter, r *http.Request, seg []string, body obj) {
	switch {
	case seg[0] != "images":
		notFound(w)
	case len(seg) == 1 && r.Method == http.MethodGet:
		out := []obj{}
		for _, o := range f.colls["images"] {
			if name := r.URL.Query().Get("name"); name == "" || o["name"] == name {
				out = append(out, o)
			}
		}
		reply(w, 200, obj{"images": out})
	case len(seg) == 1 && r.Method == http.MethodPost:
		body["status"] = "queued"
		setDefault(body, "visibility", "shared")
		setDefault(body, "min_disk", 0)
		setDefault(body, "min_ram", 0)
		body["checksum"], body["os_hash_algo"], body["os_hash_value"] = nil, nil, nil
		f.add("images", body)
		reply(w, 201, body)
	case len(seg) == 2:
		o, i := f.find("images", "id", seg[1])
		if o == nil {
			notFound(w)
			return
		}
		switch r.Method {
		case http.MethodGet:
			f.advanceSnapshot(o)
			reply(w, 200, o)
		case http.MethodDelete:
			f.remove("images", i)
			reply(w, 204, nil)
		case http.MethodPatch:
			var ops []struct {
				Op, Path string
				Value    any
			}
			if err := json.Unmarshal(body["patch"].(json.RawMessage), &ops); err != nil {
				reply(w, 400, obj{"error": err.Error()})
				return
			}
			for _, op := range ops {
				o[strings.TrimPrefix(op.Path, "/")] = op.Value
			}
			reply(w, 200, o)
		}
	default:
		notFound(w)
	}
}

// upload hashes the body as it streams in, as glance does.
func (f *fakeOpenStack) upload(w http.ResponseWriter, r *http.Request) {
	id := strings.Split(strings.Trim(r.URL.Path, "/"), "/")[3]
	f.mu.Lock()
	o, _ := f.find("images", "id", id)
	if o != nil {
		o["status"] = "saving"
	}
	corrupt := f.CorruptUpload
	f.mu.Unlock()
	if o == nil {
		notFound(w)
		return
	}
	s512, s5 := sha512.New(), md5.New()
	n, err := io.Copy(io.MultiWriter(s512, s5), r.Body)
	if err != nil {
		reply(w, 400, obj{"error": err.Error()})
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	o["status"], o["size"] = "active", n
	o["checksum"], o["os_hash_algo"], o["os_hash_value"] = hex.EncodeToString(s5.Sum(nil)), "sha512", hex.EncodeToString(s512.Sum(nil))
	if corrupt {
		o["os_hash_value"] = strings.Repeat("0", 128)
	}
	reply(w, 204, nil)
}
