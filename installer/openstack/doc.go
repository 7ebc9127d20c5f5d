// Package openstack is stacklab's knowledge of an all-in-one OpenStack lab
// built from Debian 12's packages (OpenStack Zed), expressed as data: which
// packages to install and which to keep out, the debconf answers, every
// configuration setting and where it goes, the databases, the one-off
// commands (db syncs, bootstrap), the catalog, and the order in which the
// services come up and how to tell that they answer.
//
// The knowledge is kept by service, so that changing a service means
// changing one file: mariadb.go, rabbitmq.go, memcached.go, keystone.go,
// glance.go, placement.go, nova.go, neutron.go (its ML2 backends behind
// the NeutronBackend seam in backend.go: linuxbridge.go, ovs.go) and
// horizon.go each open with the service's entry in the table of
// service.go: its packages, debconf answers, files, databases, tiers
// (units and probes), one-off commands and API. The exported functions
// (Packages, Files, Tiers, SyncCommands, APIs, ...) gather one part over
// the table in start order; common.go holds what several services' files
// share (keystone auth blocks, database and RabbitMQ URLs, uwsgi workers).
//
// Everything here is a pure function of Params. The packages that act on
// the host (apt, the INI editor, systemd, the OpenStack API client) consume
// this data; nothing in this package touches the machine, so all of it is
// table- and golden-tested (see testdata/lab.golden).
//
// The settings encode the measured pitfalls in
// shared/notes/openstack-on-debian.md; comments name the pitfall where a
// setting exists because of one. Section and key names are checked against
// the real Debian files (testdata/keys, testdata/README.md).
package openstack
