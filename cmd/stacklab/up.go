package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/urfave/cli/v3"

	"github.com/stacklab/stacklab/checks/host"
	"github.com/stacklab/stacklab/checks/nics"
	"github.com/stacklab/stacklab/internal/term"
)

// upDeps are up's side effects: each step is a stacklab command run in
// this process (tests run them against fakes), and the summary reads the
// lab.
type upDeps struct {
	// step runs "stacklab ARGS..." with the given streams.
	step func(ctx context.Context, args []string, stdout, stderr io.Writer) error
	// summary describes the finished lab: where the dashboard is, the
	// credentials, how to reach the server.
	summary func(ctx context.Context, c *cli.Command) (upSummary, error)
}

// upSummary is what a user needs once the lab is up.
type upSummary struct {
	Dashboard   string   `json:"dashboard"`
	Credentials []string `json:"credentials"`
	Server      string   `json:"server,omitempty"`
	FixedIP     string   `json:"fixed_ip,omitempty"`
	FloatingIP  string   `json:"floating_ip,omitempty"`
	PrivateKey  string   `json:"private_key,omitempty"`
	Reach       string   `json:"reach,omitempty"`
	// Laptop says how the laptop reaches the dashboard when it cannot
	// by the management address.
	Laptop []string `json:"laptop,omitempty"`
}

// upStep is one step's outcome, as up --output json reports it.
type upStep struct {
	Name    string  `json:"name"`
	OK      bool    `json:"ok"`
	Seconds float64 `json:"seconds"`
	Error   string  `json:"error,omitempty"`
}

type upReport struct {
	OK      bool       `json:"ok"`
	Steps   []upStep   `json:"steps"`
	Summary *upSummary `json:"summary,omitempty"`
	Failed  string     `json:"failed,omitempty"`
	Seconds float64    `json:"seconds"`
}

func (e *env) upCommand() *cli.Command { return e.upCommandWith(e.realUpDeps()) }

func (e *env) upCommandWith(d upDeps) *cli.Command {
	return &cli.Command{
		Name:  "up",
		Usage: "the whole lab in one command: preflight, net, install, doctor, default playbook",
		Description: "Runs each step in order and stops at the first that fails, with its fix.\n" +
			"Every step converges, so running up again finishes an interrupted lab\n" +
			"and changes nothing on a finished one. Exit code 1 when a step failed.",
		Flags: append(nicFlags(),
			configFlag(),
			&cli.StringFlag{Name: "playbook", Usage: "run this playbook instead of the built-in lab"},
			&cli.BoolFlag{Name: "yes", Aliases: []string{"y"}, Usage: "do not ask for confirmation"},
		),
		Action: func(ctx context.Context, c *cli.Command) error { return e.up(ctx, c, d) },
	}
}

func (e *env) up(ctx context.Context, c *cli.Command, d upDeps) error {
	jsonOut := c.String("output") == "json"
	if !c.Bool("yes") {
		if err := e.confirm(ctx, "up", "This configures the NICs, installs OpenStack on this machine and creates the lab's resources."); err != nil {
			return err
		}
	}
	var global []string
	if c.Bool("no-color") {
		global = append(global, "--no-color")
	}
	// The configuration and the NIC choice reach every step that reads
	// them (all but the playbook, which works through clouds.yaml), so
	// that net brings up the NIC install configures.
	var cfg []string
	for _, f := range []string{"config", "mgmt-if", "ext-if"} {
		if c.IsSet(f) {
			cfg = append(cfg, "--"+f, c.String(f))
		}
	}
	run := []string{"run"}
	if p := c.String("playbook"); p != "" {
		run = append(run, p)
	}
	steps := []struct {
		name string
		args []string
	}{
		// What net, the next step, repairs is not a reason to stop here:
		// Debian's installer maps the hostname to 127.0.1.1, and the
		// external NIC of a student's VM is often down or holds a DHCP
		// lease. net rewrites /etc/hosts, brings the NIC up and removes its
		// address for good (its DHCP client stopped, its stanza changed,
		// each shown and backed up); it still refuses where that would
		// cut the user's own path (an SSH session on it). The user agreed
		// to configuring the NICs above (or with --yes).
		{"preflight", append([]string{"preflight", "--skip", host.IDHostname, "--skip", nics.IDExtUp, "--skip", nics.IDExtNoAddr}, cfg...)},
		{"net", append([]string{"net", "apply", "--flush-external"}, cfg...)},
		{"install", append([]string{"install", "--yes"}, cfg...)},
		{"doctor", append([]string{"doctor"}, cfg...)},
		{"playbook", run},
	}
	var rep upReport
	start := time.Now()
	show := term.NewSteps(e.stderr, false, term.UseColor(e.stderr, c.Bool("no-color")))
	for _, s := range steps {
		// A step's own output streams live (install takes minutes); with
		// --output json it is kept and shown only if the step fails.
		var buf bytes.Buffer
		out, errw := e.stdout, e.stderr
		if jsonOut {
			out, errw = &buf, &buf
		} else {
			fmt.Fprintf(e.stderr, "==> %s: stacklab %s\n", s.name, strings.Join(s.args, " "))
		}
		st := show.Start(s.name)
		t0 := time.Now()
		err := d.step(ctx, append(append([]string{"stacklab"}, global...), s.args...), out, errw)
		rep.Steps = append(rep.Steps, upStep{Name: s.name, OK: err == nil, Seconds: time.Since(t0).Seconds(), Error: errText(err)})
		st.End(err, "")
		if err != nil {
			rep.Failed = s.name
			rep.Seconds = time.Since(start).Seconds()
			if jsonOut {
				if werr := writeJSONTo(e.stdout, rep); werr != nil {
					return werr
				}
				fmt.Fprint(e.stderr, buf.String())
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return &failure{code: exitFailed, err: fmt.Errorf("up stopped at %s: %w; fix it and run stacklab up again (the finished steps will change nothing)", s.name, err)}
		}
	}
	rep.OK = true
	rep.Seconds = time.Since(start).Seconds()
	sum, err := d.summary(ctx, c)
	if err != nil {
		// The lab is up; only the description failed.
		fmt.Fprintln(e.stderr, "stacklab: warning: describe the lab:", err)
	} else {
		rep.Summary = &sum
	}
	if jsonOut {
		return writeJSONTo(e.stdout, rep)
	}
	fmt.Fprintf(e.stdout, "\nThe lab is up (%s).\n", time.Duration(rep.Seconds*float64(time.Second)).Round(time.Second))
	if rep.Summary != nil {
		s := rep.Summary
		fmt.Fprintf(e.stdout, "  Dashboard:    %s (user admin; password in the credentials)\n", s.Dashboard)
		for i, f := range s.Credentials {
			label := "  Credentials:  "
			if i > 0 {
				label = "                "
			}
			fmt.Fprintf(e.stdout, "%s%s\n", label, f)
		}
		if s.Server != "" {
			fmt.Fprintf(e.stdout, "  Instance:     %s, fixed %s, floating %s\n", s.Server, s.FixedIP, s.FloatingIP)
		}
		if s.Reach != "" {
			fmt.Fprintf(e.stdout, "  Reach it:     %s\n", s.Reach)
		}
		for _, l := range s.Laptop {
			fmt.Fprintf(e.stdout, "  %s\n", l)
		}
	}
	return nil
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	var f *failure
	if errors.As(err, &f) && f.err != nil {
		return f.err.Error()
	}
	return err.Error()
}

func writeJSONTo(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
