package doctor

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/servers"
	"github.com/gophercloud/gophercloud/v2/pagination"

	"github.com/stacklab/stacklab/checks"
	"github.com/stacklab/stacklab/internal/novnc"
)

// IDConsole is the check that an instance's desktop opens from a browser.
const IDConsole = "console"

// consoleProbeTimes: asking nova for a console waits on nova-compute and
// libvirt over RPC, and the websocket on the proxy's token check and its
// connection to qemu's VNC server; three probes' worth on a loaded host.
const consoleProbeTimes = 3

func (dr *doctor) consoleChecks() []checks.Check {
	// nova-compute stores each console's token through nova-conductor.
	return []checks.Check{{
		ID: IDConsole, Title: "an instance's console opens through nova's noVNC proxy",
		DependsOn: dr.deps(IDNova, IDComputeServices, UnitID("nova-novncproxy"), UnitID("nova-compute"), UnitID("nova-conductor"), UnitID("libvirtd")),
		Timeout:   dr.consoleTimeout() + dr.cfg.probe(),
		Run:       dr.checkConsole,
	}}
}

// consoleTimeout bounds the probe. The probe starts only once nova-compute
// is known up: asking a stopped nova-compute for a console holds one of
// nova-api's workers (the lab runs one) until its RPC times out, and the
// dashboard's pages wait behind it.
func (dr *doctor) consoleTimeout() time.Duration { return consoleProbeTimes * dr.cfg.probe() }

// ConsoleFix is the advice for a console probe that stopped at stage.
func ConsoleFix(stage novnc.Stage) string {
	switch stage {
	case novnc.StagePage:
		return "the console URL's address and port are nova.conf's [vnc] novncproxy_base_url; nova-novncproxy listens on [vnc] novncproxy_host:6080 " +
			"(ss -ltnp 'sport = :6080'): set both to the management address in /etc/nova/nova.conf, then systemctl restart nova-novncproxy; " +
			"an HTTP 404 means noVNC's files are missing: apt-get install --reinstall novnc"
	case novnc.StageWebsocket:
		return "journalctl -u nova-novncproxy -n 50 (a browser's Origin must be the URL's host, or be listed in nova.conf's [console] allowed_origins)"
	}
	return "the proxy reached no VNC server for the instance: nova.conf's [vnc] server_listen and server_proxyclient_address must be the compute host's " +
		"management address (ss -ltnp | grep qemu shows where the guest's VNC listens); after changing them, systemctl restart nova-compute " +
		"and openstack server reboot --hard the instance; journalctl -u nova-novncproxy -n 50"
}

// checkConsole opens a real console, as the laptop's browser would: nova
// makes a token for an ACTIVE instance (an expiring row in nova's
// database, the one thing this diagnosis leaves behind), then the noVNC
// page must answer and its websocket must bring the guest's RFB greeting.
// Without an instance, only the page is tried.
func (dr *doctor) checkConsole(ctx context.Context) checks.Result {
	fixAPI := "journalctl -u nova-compute -n 50; nova.conf's [vnc] enabled must be true"
	sc, err := dr.client(ctx, "compute")
	if err != nil {
		return checks.Failf("compute API: no client", fixAPI, err.Error())
	}
	id, name, err := firstActiveServer(ctx, sc)
	if err != nil {
		return checks.Failf("nova did not list the instances", fixAPI, err.Error())
	}
	if id == "" {
		if dr.cfg.ConsoleURL == "" {
			return checks.Skipped("no ACTIVE instance to open a console to")
		}
		return dr.consolePage(ctx)
	}
	u, err := novnc.Create(ctx, sc, id)
	if err != nil {
		return checks.Failf("nova made no console for instance "+name, fixAPI, err.Error())
	}
	r, err := novnc.Probe(ctx, u, dr.d.http())
	ev := []string{"instance " + name + " (" + id + ")", "console URL " + novnc.Redact(u, u)}
	if r.Page != "" {
		ev = append(ev, "noVNC page: "+r.Page)
	}
	if r.Websocket != "" {
		ev = append(ev, "websocket "+r.Websocket)
	}
	if err != nil {
		var pe *novnc.Error
		if !errors.As(err, &pe) {
			return checks.Failf("the console did not open", ConsoleFix(novnc.StageGreeting), append(ev, err.Error())...)
		}
		return checks.Failf(fmt.Sprintf("the console of %s did not open (%s)", name, pe.Stage), ConsoleFix(pe.Stage), append(ev, err.Error())...)
	}
	return checks.Pass(fmt.Sprintf("the console of %s opens: %s through the proxy in %s", name, r.Greeting, r.Elapsed.Round(1e6)), ev...)
}

// consolePage: with no instance, the proxy can still be asked for its page.
func (dr *doctor) consolePage(ctx context.Context) checks.Result {
	code, _, err := dr.get(ctx, dr.cfg.ConsoleURL, nil)
	ev := []string{"GET " + dr.cfg.ConsoleURL}
	switch {
	case err != nil:
		return checks.Failf("the noVNC page "+hungOrDown(err), ConsoleFix(novnc.StagePage), append(ev, err.Error())...)
	case code != http.StatusOK:
		return checks.Failf(fmt.Sprintf("the noVNC page answered HTTP %d", code), ConsoleFix(novnc.StagePage), ev...)
	}
	return checks.Pass("the noVNC page answers (no ACTIVE instance to open a console to)", ev...)
}

// firstActiveServer reads one page of one ACTIVE server, any project's;
// "" when there is none.
func firstActiveServer(ctx context.Context, sc *gophercloud.ServiceClient) (id, name string, err error) {
	err = servers.List(sc, servers.ListOpts{Status: "ACTIVE", Limit: 1, AllTenants: true}).EachPage(ctx,
		func(_ context.Context, p pagination.Page) (bool, error) {
			list, err := servers.ExtractServers(p)
			if err != nil {
				return false, err
			}
			if len(list) > 0 {
				id, name = list[0].ID, list[0].Name
			}
			// One page answers the question; the next would be a second request.
			return false, nil
		})
	if err != nil {
		return "", "", fmt.Errorf("nova: list ACTIVE servers: %w", err)
	}
	return id, name, nil
}
