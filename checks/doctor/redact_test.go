package doctor

import (
	"bytes"
	"strings"
	"testing"

	"github.com/stacklab/stacklab/checks"
	"github.com/stacklab/stacklab/internal/nettest"
)

// A --cloud auth_url may be written http://user:password@host/v3; the
// keystone check prints that URL in its summary and evidence, whether
// keystone answers or hangs, and never with the password.
func TestKeystoneCheckRedactsURLPassword(t *testing.T) {
	const pw = "url-Pa55word"
	w := newWorld(t)
	answering := strings.Replace(w.cfg.KeystoneURL, "http://", "http://admin:"+pw+"@", 1)
	hung := "http://admin:" + pw + "@" + nettest.Serve(t, nettest.Silent) + "/v3"
	for _, u := range []string{answering, hung} {
		w.cfg.KeystoneURL = u
		rep := w.run(t)
		var out bytes.Buffer
		if err := rep.WriteText(&out, checks.TextOptions{Verbose: true}); err != nil {
			t.Fatal(err)
		}
		if err := rep.WriteJSON(&out); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(out.String(), pw) {
			t.Errorf("report for %s shows the URL's password:\n%s", strings.ReplaceAll(u, pw, "PW"), out.String())
		}
		if !strings.Contains(out.String(), "admin:xxxxx@") {
			t.Errorf("report for %s does not show the keystone URL, redacted", strings.ReplaceAll(u, pw, "PW"))
		}
	}
}
