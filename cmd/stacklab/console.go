package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/urfave/cli/v3"

	"github.com/stacklab/stacklab/internal/cloud"
	"github.com/stacklab/stacklab/internal/novnc"
	pbos "github.com/stacklab/stacklab/playbooks/openstack"
)

// consoleCheckTimeout bounds --check: the page, the websocket and the
// guest's greeting through the proxy.
const consoleCheckTimeout = 15 * time.Second

// consoleReport is console's JSON document. The URL holds a token: it is
// what the user asked for, and nova lets it expire.
type consoleReport struct {
	Server   string   `json:"server"`
	URL      string   `json:"url"`
	Laptop   []string `json:"laptop,omitempty"`
	Checked  bool     `json:"checked"`
	Page     string   `json:"page,omitempty"`
	Greeting string   `json:"greeting,omitempty"`
}

func (e *env) consoleCommand() *cli.Command {
	return &cli.Command{
		Name:      "console",
		Usage:     "print the URL of a server's desktop (noVNC) for the laptop's browser",
		ArgsUsage: "SERVER",
		Description: "Asks nova for a noVNC console of a running server and prints its URL; the token in it\n" +
			"expires after 10 minutes (run the command again for a new one). With --check, the URL is\n" +
			"opened from here as a browser would: the page, then the websocket through nova's proxy,\n" +
			"which must bring the guest's VNC greeting.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "cloud", Usage: "the clouds.yaml entry to use (default $OS_CLOUD, else the lab)"},
			&cli.BoolFlag{Name: "check", Usage: "open the console from here and read the guest's VNC greeting"},
		},
		Action: func(ctx context.Context, c *cli.Command) error {
			if c.NArg() != 1 {
				return usagef("console takes one SERVER (its name), e.g. stacklab console lab-vm")
			}
			return e.console(ctx, c, c.Args().First(), c.String("cloud"), c.Bool("check"))
		},
	}
}

func (e *env) console(ctx context.Context, c *cli.Command, server, cloudName string, check bool) error {
	cl, err := cloud.Open(ctx, cloud.Options{Cloud: cloudName, Tokens: tokenCache()})
	if err != nil {
		return err
	}
	u, err := pbos.New(cl, pbos.Options{}).ServerConsole(ctx, server)
	if err != nil {
		return err
	}
	r := consoleReport{Server: server, URL: u, Laptop: laptopConsole(u)}
	var probeErr error
	if check {
		pctx, cancel := context.WithTimeout(ctx, consoleCheckTimeout)
		defer cancel()
		res, err := novnc.Probe(pctx, u, &http.Client{})
		r.Checked, r.Page, r.Greeting = true, res.Page, res.Greeting
		if err != nil {
			probeErr = &failure{code: exitFailed, err: fmt.Errorf("console of %s: %w; stacklab doctor checks the console path", server, err)}
		}
	}
	if err := e.render(c, r, func(w io.Writer) error {
		fmt.Fprintf(w, "Console of %s (valid 10 minutes; run stacklab console %s for a new one):\n  %s\n", server, server, u)
		for _, l := range r.Laptop {
			fmt.Fprintf(w, "  %s\n", l)
		}
		if r.Greeting != "" {
			fmt.Fprintf(w, "checked from here: page %s, the guest's VNC server greets with %s\n", r.Page, r.Greeting)
		}
		return nil
	}); err != nil {
		return err
	}
	return probeErr
}

// laptopConsole is the note for a console URL on VirtualBox NAT's address,
// which the laptop reaches only through a port forward (laptopAdvice).
func laptopConsole(consoleURL string) []string {
	u, err := url.Parse(consoleURL)
	if err != nil || u.Hostname() != vboxNATAddr {
		return nil
	}
	port := u.Port()
	u.Host = "localhost:" + port
	return []string{
		fmt.Sprintf("%s is VirtualBox NAT's address: on the laptop, forward the port once", vboxNATAddr),
		fmt.Sprintf(`(VBoxManage controlvm VM natpf1 "novnc,tcp,,%s,,%s") and open`, port, port),
		u.String(),
	}
}
