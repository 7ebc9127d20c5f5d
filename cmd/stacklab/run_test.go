package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/urfave/cli/v3"

	"github.com/stacklab/stacklab/installer/openstack"
	"github.com/stacklab/stacklab/playbooks"
	"github.com/stacklab/stacklab/playbooks/image/tiny"
	"github.com/stacklab/stacklab/playbooks/playbookstest"
)

// runLab runs the real run command against the in-memory cloud, with the
// default playbook copied to a directory whose image is built on demand
// as a small raw file.
type runLab struct {
	dir      string
	playbook string
	image    string
	cloud    *playbookstest.Cloud
	opened   int
	builds   int
	buildErr error
	store    spaceReader
}

func newRunLab(t *testing.T) *runLab {
	l := &runLab{dir: t.TempDir(), cloud: playbookstest.New()}
	l.image = filepath.Join(l.dir, "images", "lab-image.img")
	data := strings.Replace(string(playbooks.Default()), "/var/lib/stacklab/images/lab-image.img", l.image, 1)
	l.playbook = filepath.Join(l.dir, "lab.yaml")
	if err := os.WriteFile(l.playbook, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	return l
}

func (l *runLab) deps() runDeps {
	return runDeps{
		stateDir:    l.dir,
		glanceStore: l.store,
		open: func(context.Context, string, uploadProgress) (playbooks.Cloud, error) {
			l.opened++
			return l.cloud, nil
		},
		build: func(_ context.Context, recipe, path string, log func(string)) error {
			l.builds++
			if l.buildErr != nil {
				return l.buildErr
			}
			if recipe != "tiny" {
				return errors.New("unknown recipe " + recipe)
			}
			log("writing a stand-in raw image")
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				return err
			}
			return os.WriteFile(path, make([]byte, 1<<20), 0o644)
		},
	}
}

func (l *runLab) run(t *testing.T, args ...string) result {
	t.Helper()
	e := testEnv(t)
	var out, errb bytes.Buffer
	e.stdout, e.stderr, e.stdin = &out, &errb, strings.NewReader("")
	app := newApp(e)
	app.Commands = slices.DeleteFunc(app.Commands, func(c *cli.Command) bool { return c.Name == "run" })
	app.Commands = append(app.Commands, e.runCommandWith(l.deps()))
	err := app.Run(context.Background(), append([]string{"stacklab"}, args...))
	return result{exitCode(context.Background(), err, &errb), out.String(), errb.String()}
}

func TestRunPlanApplyRerunDestroy(t *testing.T) {
	l := newRunLab(t)

	// The plan builds nothing and changes nothing, but must say the image
	// file is missing rather than pretend it can be uploaded.
	r := l.run(t, "run", "--plan", l.playbook)
	if r.code != exitFailed || !strings.Contains(r.stderr, "lab-image.img does not exist") {
		t.Fatalf("plan without image: exit %d, stderr %s", r.code, r.stderr)
	}
	if l.builds != 0 || len(l.cloud.Writes()) != 0 {
		t.Fatalf("plan built %d images, wrote %v", l.builds, l.cloud.Writes())
	}

	r = l.run(t, "run", l.playbook)
	if r.code != exitOK {
		t.Fatalf("apply: exit %d\nstdout %s\nstderr %s", r.code, r.stdout, r.stderr)
	}
	if l.builds != 1 || !strings.Contains(r.stderr, "image lab-image: building") {
		t.Errorf("apply built %d images; stderr %s", l.builds, r.stderr)
	}
	want := len(mustLoad(t, l.playbook).Resources())
	if got := strings.Count(r.stdout, "✓ + "); got != want {
		t.Errorf("apply printed %d created resources, want %d:\n%s", got, want, r.stdout)
	}
	if !strings.Contains(r.stdout, strconv.Itoa(want)+" create in ") {
		t.Errorf("no summary line in:\n%s", r.stdout)
	}

	writes := len(l.cloud.Writes())
	r = l.run(t, "--output", "json", "run", l.playbook)
	if r.code != exitOK {
		t.Fatalf("re-run: exit %d, stderr %s", r.code, r.stderr)
	}
	var rep struct {
		Results []struct {
			Kind, Name, Action, Error string
		}
	}
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("re-run JSON: %v\n%s", err, r.stdout)
	}
	for _, res := range rep.Results {
		if res.Action != "unchanged" || res.Error != "" {
			t.Errorf("re-run: %s %s %s %s", res.Kind, res.Name, res.Action, res.Error)
		}
	}
	if len(rep.Results) != want || len(l.cloud.Writes()) != writes || l.builds != 1 {
		t.Errorf("re-run: %d results, %d new writes, %d builds", len(rep.Results), len(l.cloud.Writes())-writes, l.builds)
	}

	// Destroy asks first; without a terminal that is a usage error.
	if r = l.run(t, "run", "--destroy", l.playbook); r.code != exitUsage || !strings.Contains(r.stderr, "--yes") {
		t.Fatalf("destroy without --yes: exit %d, stderr %s", r.code, r.stderr)
	}
	if r = l.run(t, "run", "--destroy", "--yes", l.playbook); r.code != exitOK {
		t.Fatalf("destroy: exit %d, stderr %s", r.code, r.stderr)
	}
	for _, res := range mustLoad(t, l.playbook).Resources() {
		if l.cloud.Has(res.Kind, res.Name) {
			t.Errorf("%s still there after destroy", res.ID())
		}
	}
}

func TestRunRefusesBadPlaybookBeforeTouchingTheCloud(t *testing.T) {
	l := newRunLab(t)
	bad := filepath.Join(l.dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("name: t\nnetworks:\n  - name: n\n    tpye: vxlan\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := l.run(t, "run", bad)
	if r.code != exitFailed {
		t.Fatalf("exit %d, want %d", r.code, exitFailed)
	}
	if !strings.Contains(r.stderr, bad+":4:5:") || !strings.Contains(r.stderr, "nothing was changed") {
		t.Errorf("stderr lacks file:line and the promise:\n%s", r.stderr)
	}
	if l.opened != 0 {
		t.Errorf("the cloud was opened %d times for a playbook that does not load", l.opened)
	}
}

func TestRunImageBuildFailureChangesNothing(t *testing.T) {
	l := newRunLab(t)
	l.buildErr = errors.New("apt-get download linux-image-cloud-amd64: no mirror reachable")
	r := l.run(t, "run", l.playbook)
	if r.code != exitFailed || !strings.Contains(r.stderr, "no mirror reachable") {
		t.Fatalf("exit %d, stderr %s", r.code, r.stderr)
	}
	if l.opened != 0 || len(l.cloud.Writes()) != 0 {
		t.Errorf("opened %d, writes %v", l.opened, l.cloud.Writes())
	}
}

func TestRunShowDefaultPrintsTheEmbeddedPlaybook(t *testing.T) {
	l := newRunLab(t)
	r := l.run(t, "run", "--show-default")
	if r.code != exitOK || r.stdout != string(playbooks.Default()) {
		t.Fatalf("exit %d, stdout differs from the embedded playbook", r.code)
	}
}

func mustLoad(t *testing.T, path string) *playbooks.Playbook {
	t.Helper()
	pb, err := playbooks.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return pb
}

// The lab must be able to build the default playbook's image: the
// installer installs what `image tiny` needs, and the playbook names the
// path the command writes by default.
func TestLabCanBuildTheDefaultImage(t *testing.T) {
	pkgs := openstack.Packages(openstack.Params{ComputeDriver: openstack.ComputeLibvirt, VirtType: openstack.VirtQEMU})
	for _, p := range tiny.HostPackages {
		if !slices.Contains(pkgs, p) {
			t.Errorf("install does not install %s, which stacklab image tiny needs", p)
		}
	}
	pb, err := playbooks.LoadDefault(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if len(pb.Images) != 1 || pb.Images[0].Path != DefaultTinyImage || pb.Images[0].Build != "tiny" {
		t.Errorf("default playbook images %+v, want one built by tiny at %s", pb.Images, DefaultTinyImage)
	}
}
