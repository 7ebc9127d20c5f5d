#!/usr/bin/env bash
# guide-install.sh MGMT_IP [EXT_IF]: OpenStack Zed on Debian 12 installed by
# hand, as a student following Debian's packages and OpenStack's install
# guide does it: apt, crudini edits, keystone-manage, the openstack CLI for
# users and endpoints, the guide's "controller" name in /etc/hosts, Horizon
# with Debian's own Apache site. No stacklab code runs here: this is the lab
# `stacklab doctor` must understand without /etc/stacklab.
#
# Runs inside the lab host as root. Where it departs from the guide it says
# why; none of those departures touches what doctor is tested on.
set -euo pipefail
MGMT=${1:?usage: guide-install.sh MGMT_IP [EXT_IF]}
EXT_IF=${2:-eth1}
export DEBIAN_FRONTEND=noninteractive
step() { printf -- '-- %s (t+%ss)\n' "$*" "$SECONDS"; }

# The guide's table of passwords, one per account, kept where only root
# reads them (e2e/doctor.sh checks none of them leaves in doctor's output).
PASSWORDS=/root/guide-passwords
umask 077
if [ ! -s "$PASSWORDS" ]; then
	for n in ADMIN_PASS RABBIT_PASS KEYSTONE_DBPASS GLANCE_DBPASS GLANCE_PASS PLACEMENT_DBPASS \
		PLACEMENT_PASS NOVA_DBPASS NOVA_PASS NEUTRON_DBPASS NEUTRON_PASS METADATA_SECRET; do
		echo "$n: $(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
	done >"$PASSWORDS"
fi
umask 022
pw() { sed -n "s/^$1: //p" "$PASSWORDS"; }

step "the controller's name (the guide's /etc/hosts line)"
grep -q ' controller$' /etc/hosts || echo "$MGMT controller" >>/etc/hosts

step "packages"
# Answer Debian's debconf questions "no": the guide configures databases,
# RabbitMQ and endpoints itself.
debconf-set-selections <<'EOF'
keystone keystone/configure_db boolean false
keystone keystone/create-admin-tenant boolean false
keystone keystone/register-endpoint boolean false
glance-common glance/configure_db boolean false
glance-common glance/configure_rabbit boolean false
glance-common glance/configure_ksat boolean false
glance-api glance/configure_api-endpoint boolean false
placement-common placement/configure_db boolean false
placement-common placement/configure_ksat boolean false
placement-api placement/configure_api-endpoint boolean false
nova-common nova/configure_db boolean false
nova-common nova/configure_rabbit boolean false
nova-common nova/configure_ksat boolean false
nova-common nova/configure_neutron boolean false
nova-common nova/configure_placement boolean false
nova-api novaapi/configure_db boolean false
nova-api nova/configure_api-endpoint boolean false
nova-consoleproxy nova-consoleproxy/daemon_type select novnc
neutron-common neutron/configure_db boolean false
neutron-common neutron/configure_rabbit boolean false
neutron-common neutron/configure_ksat boolean false
neutron-common neutron/configure_nova boolean false
neutron-api neutron/configure_api-endpoint boolean false
neutron-metadata-agent neutron-metadata/configure boolean false
openstack-dashboard-apache horizon/activate_vhost boolean false
openstack-dashboard-apache horizon/use_ssl boolean false
libvirt-daemon-system libvirt-daemon-system/id_warning boolean true
EOF
echo NOVA_CONSOLE_PROXY_TYPE=novnc >/etc/default/nova-consoleproxy
# Not the guide: services held back while apt runs. Each postinst would
# start its service unconfigured, and on two cores that took a naive
# install 52 minutes; the guide starts each one once configured. Only
# starts are denied: dbus must reload as packages add bus policies, or
# polkitd cannot own its name and libvirt refuses nova-compute.
cat >/usr/sbin/policy-rc.d <<'EOF'
#!/bin/sh
while [ $# -gt 0 ]; do case "$1" in --*) shift ;; *) break ;; esac; done
for action in $2; do
	case "$action" in start | restart | try-restart | force-start) exit 101 ;; esac
done
exit 0
EOF
chmod 0755 /usr/sbin/policy-rc.d
trap 'rm -f /usr/sbin/policy-rc.d' EXIT
PACKAGES=(crudini mariadb-server python3-pymysql rabbitmq-server memcached python3-memcache
	keystone python3-openstackclient glance placement-api
	nova-api nova-conductor nova-scheduler nova-consoleproxy nova-compute nova-compute-qemu
	neutron-api neutron-rpc-server neutron-linuxbridge-agent neutron-dhcp-agent neutron-l3-agent
	neutron-metadata-agent openstack-dashboard-apache openvswitch-switch-)
# A package script that fails is shown; then, as its reader would, the
# install is finished (dpkg --configure -a) and tried once more. CI21 saw
# one fail here, after stacklab's uninstall on the same host, with no log.
if ! apt-get install -y -q -o Dpkg::Options::=--force-confold "${PACKAGES[@]}" >/var/log/guide-apt.log 2>&1; then
	echo "apt-get install failed; its last lines:"
	grep -E -B3 -A12 'error processing|returned error exit status|^E:' /var/log/guide-apt.log | tail -n 60
	dpkg --configure -a >>/var/log/guide-apt.log 2>&1 || true
	apt-get install -y -q -o Dpkg::Options::=--force-confold "${PACKAGES[@]}" >>/var/log/guide-apt.log 2>&1 || {
		echo "apt-get install failed again:"
		tail -n 40 /var/log/guide-apt.log
		exit 1
	}
	echo "the second apt-get install succeeded"
fi
rm -f /usr/sbin/policy-rc.d
trap - EXIT

# Not the guide: Debian's worker counts (8 uwsgi processes, 16 nova-api
# workers, one conductor per core...) take about 10 GB and minutes to start
# on two cores; a student's small VM turns them down the same way.
set_workers() {
	crudini --set /etc/keystone/keystone-uwsgi.ini uwsgi processes 1
	crudini --set /etc/placement/placement-api-uwsgi.ini uwsgi processes 1
	crudini --set /etc/nova/nova-api-uwsgi.ini uwsgi processes 1
	crudini --set /etc/nova/nova-api-metadata-uwsgi.ini uwsgi processes 1
	crudini --set /etc/neutron/neutron-api-uwsgi.ini uwsgi processes 2
	crudini --set /etc/neutron/neutron-api-uwsgi.ini uwsgi threads 1
	crudini --set /etc/glance/glance-api.conf DEFAULT workers 1
	crudini --set /etc/nova/nova.conf DEFAULT osapi_compute_workers 1
	crudini --set /etc/nova/nova.conf DEFAULT metadata_workers 1
	crudini --set /etc/nova/nova.conf conductor workers 1
	crudini --set /etc/nova/nova.conf scheduler workers 1
	crudini --set /etc/neutron/neutron.conf DEFAULT api_workers 1
	crudini --set /etc/neutron/neutron.conf DEFAULT rpc_workers 1
	crudini --set /etc/neutron/neutron.conf DEFAULT rpc_state_report_workers 1
	crudini --set /etc/neutron/metadata_agent.ini DEFAULT metadata_workers 0
}
set_workers

# manage CMD...: a database sync or key setup, its chatter (alembic's INFO,
# eventlet's warnings at exit) kept in a log and shown only on failure.
manage() {
	"$@" >>/var/log/guide-manage.log 2>&1 || {
		tail -n 20 /var/log/guide-manage.log >&2
		return 1
	}
}

# wait_http URL: until the service answers at all (any HTTP status).
wait_http() {
	for _ in $(seq 180); do
		curl -s -o /dev/null --max-time 3 "$1" && return 0
		sleep 1
	done
	echo "no answer from $1" >&2
	return 1
}

step "MariaDB"
cat >/etc/mysql/mariadb.conf.d/99-openstack.cnf <<EOF
[mysqld]
bind-address = $MGMT
default-storage-engine = innodb
innodb_file_per_table = on
max_connections = 4096
collation-server = utf8_general_ci
character-set-server = utf8
EOF
systemctl restart mariadb
for db in keystone glance placement nova_api nova nova_cell0 neutron; do
	case $db in nova*) user=nova ;; *) user=$db ;; esac
	p=$(pw "$(tr '[:lower:]' '[:upper:]' <<<"$user")_DBPASS")
	mysql <<EOF
CREATE DATABASE IF NOT EXISTS $db;
GRANT ALL PRIVILEGES ON $db.* TO '$user'@'localhost' IDENTIFIED BY '$p';
GRANT ALL PRIVILEGES ON $db.* TO '$user'@'%' IDENTIFIED BY '$p';
EOF
done

step "RabbitMQ"
systemctl restart rabbitmq-server
rabbitmqctl -q list_users | cut -f1 | grep -qx openstack || rabbitmqctl add_user openstack "$(pw RABBIT_PASS)" >/dev/null
rabbitmqctl set_permissions openstack ".*" ".*" ".*" >/dev/null

step "memcached"
sed -i "s/^-l 127.0.0.1$/-l $MGMT/" /etc/memcached.conf
systemctl restart memcached

step "keystone"
crudini --set /etc/keystone/keystone.conf database connection "mysql+pymysql://keystone:$(pw KEYSTONE_DBPASS)@controller/keystone"
crudini --set /etc/keystone/keystone.conf token provider fernet
manage su -s /bin/sh -c "keystone-manage db_sync" keystone
manage keystone-manage fernet_setup --keystone-user keystone --keystone-group keystone
manage keystone-manage credential_setup --keystone-user keystone --keystone-group keystone
OS_BOOTSTRAP_PASSWORD=$(pw ADMIN_PASS) manage keystone-manage bootstrap \
	--bootstrap-admin-url http://controller:5000/v3/ \
	--bootstrap-internal-url http://controller:5000/v3/ \
	--bootstrap-public-url http://controller:5000/v3/ \
	--bootstrap-region-id RegionOne
systemctl restart keystone
wait_http http://controller:5000/v3

cat >/root/admin-openrc <<EOF
export OS_PROJECT_DOMAIN_NAME=Default
export OS_USER_DOMAIN_NAME=Default
export OS_PROJECT_NAME=admin
export OS_USERNAME=admin
export OS_PASSWORD=$(pw ADMIN_PASS)
export OS_AUTH_URL=http://controller:5000/v3
export OS_IDENTITY_API_VERSION=3
export OS_IMAGE_API_VERSION=2
EOF
chmod 0600 /root/admin-openrc

step "users, services and endpoints (the openstack CLI)"
# shellcheck disable=SC1091 # written just above
. /root/admin-openrc
# One openstack process reads the guide's commands from its standard input
# (its interactive shell), so that no password is on a command line. Its
# shell parses quotes its own way: no argument here needs any.
openstack project show service >/dev/null 2>&1 || {
	echo "project create --domain default service"
	for s in glance:image:9292 placement:placement:8778 nova:compute:8774/v2.1 neutron:network:9696; do
		IFS=: read -r user type path <<<"$s"
		echo "user create --domain default --password $(pw "$(tr '[:lower:]' '[:upper:]' <<<"$user")_PASS") $user"
		echo "role add --project service --user $user admin"
		echo "service create --name $user $type"
		for iface in public internal admin; do
			echo "endpoint create --region RegionOne $type $iface http://controller:$path"
		done
	done
} | openstack >/var/log/guide-openstack.log
# Its shell goes on past a failed command: count what it made.
n=$(openstack endpoint list -f value -c ID | wc -l)
r=$(openstack role assignment list --project service --role admin -f value -c User | wc -l)
if [ "$n" -ne 15 ] || [ "$r" -ne 4 ]; then
	echo "the catalog has $n endpoints (not 15: keystone's 3 and 3 for each of 4 services), the service project $r admins (not 4)" >&2
	exit 1
fi

# authtoken USER FILE...: the guide's [keystone_authtoken] section.
authtoken() {
	local user=$1 f
	shift
	for f in "$@"; do
		crudini --set "$f" keystone_authtoken www_authenticate_uri http://controller:5000
		crudini --set "$f" keystone_authtoken auth_url http://controller:5000
		crudini --set "$f" keystone_authtoken memcached_servers controller:11211
		crudini --set "$f" keystone_authtoken auth_type password
		crudini --set "$f" keystone_authtoken project_domain_name Default
		crudini --set "$f" keystone_authtoken user_domain_name Default
		crudini --set "$f" keystone_authtoken project_name service
		crudini --set "$f" keystone_authtoken username "$user"
		crudini --set "$f" keystone_authtoken password "$(pw "$(tr '[:lower:]' '[:upper:]' <<<"$user")_PASS")"
		# Debian ships region_name = regionOne here; keystone says RegionOne.
		crudini --set "$f" keystone_authtoken region_name RegionOne
	done
}
# service_auth FILE SECTION USER: the guide's [placement]/[neutron]/[nova]
# sections, a service's account for calling another service.
service_auth() {
	local f=$1 s=$2 user=$3
	crudini --set "$f" "$s" auth_url http://controller:5000/v3
	crudini --set "$f" "$s" auth_type password
	crudini --set "$f" "$s" project_domain_name Default
	crudini --set "$f" "$s" user_domain_name Default
	crudini --set "$f" "$s" project_name service
	crudini --set "$f" "$s" username "$user"
	crudini --set "$f" "$s" password "$(pw "$(tr '[:lower:]' '[:upper:]' <<<"$user")_PASS")"
	crudini --set "$f" "$s" region_name RegionOne
}

step "glance"
G=/etc/glance/glance-api.conf
crudini --set $G database connection "mysql+pymysql://glance:$(pw GLANCE_DBPASS)@controller/glance"
authtoken glance $G
crudini --set $G paste_deploy flavor keystone
crudini --set $G glance_store stores file,http
crudini --set $G glance_store default_store file
crudini --set $G glance_store filesystem_store_datadir /var/lib/glance/images/
manage su -s /bin/sh -c "glance-manage db_sync" glance
systemctl restart glance-api

step "placement"
P=/etc/placement/placement.conf
crudini --set $P placement_database connection "mysql+pymysql://placement:$(pw PLACEMENT_DBPASS)@controller/placement"
crudini --set $P api auth_strategy keystone
authtoken placement $P
manage su -s /bin/sh -c "placement-manage db sync" placement
systemctl restart placement-api

step "nova"
N=/etc/nova/nova.conf
RABBIT="rabbit://openstack:$(pw RABBIT_PASS)@controller:5672/"
crudini --set $N DEFAULT my_ip "$MGMT"
crudini --set $N DEFAULT transport_url "$RABBIT"
crudini --set $N api auth_strategy keystone
crudini --set $N api_database connection "mysql+pymysql://nova:$(pw NOVA_DBPASS)@controller/nova_api"
crudini --set $N database connection "mysql+pymysql://nova:$(pw NOVA_DBPASS)@controller/nova"
authtoken nova $N
service_auth $N service_user nova
crudini --set $N service_user send_service_user_token true
crudini --del $N service_user region_name
crudini --set $N vnc enabled true
# shellcheck disable=SC2016 # oslo.config's own $my_ip, not the shell's
crudini --set $N vnc server_listen '$my_ip'
# shellcheck disable=SC2016
crudini --set $N vnc server_proxyclient_address '$my_ip'
crudini --set $N vnc novncproxy_base_url http://controller:6080/vnc_auto.html
crudini --set $N glance api_servers http://controller:9292
crudini --set $N oslo_concurrency lock_path /var/lib/nova/tmp
service_auth $N placement placement
service_auth $N neutron neutron
crudini --set $N neutron service_metadata_proxy true
crudini --set $N neutron metadata_proxy_shared_secret "$(pw METADATA_SECRET)"
crudini --set /etc/nova/nova-compute.conf libvirt virt_type qemu
# Not the guide: this lab host's cgroup v1 controllers are read-only; a VM
# does not need it.
grep -q '^cgroup_controllers' /etc/libvirt/qemu.conf || echo 'cgroup_controllers = [ ]' >>/etc/libvirt/qemu.conf
manage su -s /bin/sh -c "nova-manage api_db sync" nova
manage su -s /bin/sh -c "nova-manage cell_v2 map_cell0" nova
su -s /bin/sh -c "nova-manage cell_v2 list_cells" nova | grep -q ' cell1 ' ||
	manage su -s /bin/sh -c "nova-manage cell_v2 create_cell --name=cell1 --verbose" nova
manage su -s /bin/sh -c "nova-manage db sync" nova
systemctl restart nova-api nova-api-metadata nova-scheduler nova-conductor nova-novncproxy
systemctl restart libvirtd
systemctl restart nova-compute

step "neutron (self-service networks, linux bridge)"
Q=/etc/neutron/neutron.conf
crudini --set $Q database connection "mysql+pymysql://neutron:$(pw NEUTRON_DBPASS)@controller/neutron"
crudini --set $Q DEFAULT core_plugin ml2
crudini --set $Q DEFAULT service_plugins router
crudini --set $Q DEFAULT transport_url "$RABBIT"
crudini --set $Q DEFAULT auth_strategy keystone
crudini --set $Q DEFAULT notify_nova_on_port_status_changes true
crudini --set $Q DEFAULT notify_nova_on_port_data_changes true
# Not the guide: this lab host's NIC has MTU 1400 (a VM's has 1500).
crudini --set $Q DEFAULT global_physnet_mtu "$(cat /sys/class/net/"$EXT_IF"/mtu)"
# Zed marks linux bridge experimental: neutron-api refuses it without this.
crudini --set $Q experimental linuxbridge true
authtoken neutron $Q
service_auth $Q nova nova
crudini --set $Q oslo_concurrency lock_path /var/lib/neutron/tmp
M=/etc/neutron/plugins/ml2/ml2_conf.ini
crudini --set $M ml2 type_drivers flat,vlan,vxlan
crudini --set $M ml2 tenant_network_types vxlan
crudini --set $M ml2 mechanism_drivers linuxbridge,l2population
crudini --set $M ml2 extension_drivers port_security
crudini --set $M ml2_type_flat flat_networks provider
crudini --set $M ml2_type_vxlan vni_ranges 1:1000
crudini --set $M securitygroup enable_ipset true
L=/etc/neutron/plugins/ml2/linuxbridge_agent.ini
crudini --set $L linux_bridge physical_interface_mappings "provider:$EXT_IF"
crudini --set $L vxlan enable_vxlan true
crudini --set $L vxlan local_ip "$MGMT"
crudini --set $L vxlan l2_population true
crudini --set $L securitygroup enable_security_group true
crudini --set $L securitygroup firewall_driver neutron.agent.linux.iptables_firewall.IptablesFirewallDriver
crudini --set /etc/neutron/l3_agent.ini DEFAULT interface_driver linuxbridge
crudini --set /etc/neutron/dhcp_agent.ini DEFAULT interface_driver linuxbridge
crudini --set /etc/neutron/dhcp_agent.ini DEFAULT dhcp_driver neutron.agent.linux.dhcp.Dnsmasq
crudini --set /etc/neutron/dhcp_agent.ini DEFAULT enable_isolated_metadata true
crudini --set /etc/neutron/metadata_agent.ini DEFAULT nova_metadata_host controller
crudini --set /etc/neutron/metadata_agent.ini DEFAULT metadata_proxy_shared_secret "$(pw METADATA_SECRET)"
ip link set "$EXT_IF" up
manage su -s /bin/sh -c "neutron-db-manage --config-file $Q --config-file $M upgrade heads" neutron
systemctl restart nova-api
systemctl restart neutron-api neutron-rpc-server
systemctl restart neutron-linuxbridge-agent neutron-dhcp-agent neutron-l3-agent neutron-metadata-agent

step "the compute node in its cell"
for _ in $(seq 120); do
	openstack compute service list --service nova-compute -f value -c State 2>/dev/null | grep -qx up && break
	sleep 2
done
manage su -s /bin/sh -c "nova-manage cell_v2 discover_hosts --verbose" nova

step "Horizon"
H=/etc/openstack-dashboard/local_settings.py
sed -i 's/^OPENSTACK_HOST = .*/OPENSTACK_HOST = "controller"/' $H
# The guide: the names the dashboard is reached by (Debian's postinst put
# the hostname only; the laptop uses the address).
sed -i "s/^ALLOWED_HOSTS = .*/ALLOWED_HOSTS = ['controller', '$MGMT', 'localhost']/" $H
sed -i 's|^OPENSTACK_KEYSTONE_URL = .*|OPENSTACK_KEYSTONE_URL = "http://%s:5000/v3" % OPENSTACK_HOST|' $H
grep -q '^SESSION_ENGINE' $H || cat >>$H <<'EOF'
SESSION_ENGINE = 'django.contrib.sessions.backends.cache'
CACHES = {
    'default': {
        'BACKEND': 'django.core.cache.backends.memcached.MemcachedCache',
        'LOCATION': 'controller:11211',
    }
}
OPENSTACK_KEYSTONE_MULTIDOMAIN_SUPPORT = True
OPENSTACK_API_VERSIONS = {
    "identity": 3,
    "image": 2,
    "volume": 3,
}
OPENSTACK_KEYSTONE_DEFAULT_DOMAIN = "Default"
EOF
# Debian's postinst enables default-ssl without mod_ssl; apache2 then
# refuses to start ("Invalid command 'SSLEngine'"). The guide's readers
# disable it.
a2dissite -q default-ssl >/dev/null 2>&1 || true
systemctl restart apache2
wait_http "http://$MGMT/horizon/auth/login/"
step "start at boot (the guide's systemctl enable)"
# Debian's packages leave placement-api and neutron's units disabled.
systemctl enable --quiet mariadb rabbitmq-server memcached keystone glance-api placement-api \
	nova-api nova-api-metadata nova-scheduler nova-conductor nova-novncproxy libvirtd nova-compute \
	neutron-api neutron-rpc-server neutron-linuxbridge-agent neutron-dhcp-agent neutron-l3-agent \
	neutron-metadata-agent apache2
step "done"
