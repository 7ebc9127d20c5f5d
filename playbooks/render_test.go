package playbooks

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stacklab/stacklab/internal/fix"
)

// A failed resource shows its remedy on the run's text line and in the
// JSON report, where programs read it as every other "fix".
func TestFailedResultCarriesItsFix(t *testing.T) {
	r := Result{Step: Step{Kind: KindImage, Name: "snap", Action: Create},
		Err: fix.Errorf("openstack server start vm", "image snap: server vm is SHUTOFF")}
	if got := r.String(); !strings.Contains(got, "server vm is SHUTOFF\n  fix: openstack server start vm") {
		t.Errorf("text = %q", got)
	}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct{ Error, Fix string }
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Error != "image snap: server vm is SHUTOFF" || doc.Fix != "openstack server start vm" {
		t.Errorf("json = %s", b)
	}
}
