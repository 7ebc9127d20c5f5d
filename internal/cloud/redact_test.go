package cloud_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/stacklab/stacklab/internal/cloud"
	"github.com/stacklab/stacklab/internal/cloud/cloudtest"
)

func TestRedactURLs(t *testing.T) {
	tests := []struct{ in, want string }{
		{"http://admin:s3cret@192.0.2.10:5000/v3", "http://admin:xxxxx@192.0.2.10:5000/v3"},
		{`auth_url "https://u:p%40ss@h/v3": bad`, `auth_url "https://u:xxxxx@h/v3": bad`},
		{"raw @ in it: http://u:p@ss@h:5000/v3/", "raw @ in it: http://u:xxxxx@h:5000/v3/"},
		{"two: http://a:1@h/ and https://b:2@k/x", "two: http://a:xxxxx@h/ and https://b:xxxxx@k/x"},
		{"no password: http://user@h:5000/v3", "no password: http://user@h:5000/v3"},
		{"mail admin@example.org about http://h:5000/v3", "mail admin@example.org about http://h:5000/v3"},
	}
	for _, tt := range tests {
		if got := cloud.RedactURLs(tt.in); got != tt.want {
			t.Errorf("RedactURLs(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	// Agrees with net/url where the URL parses.
	u, _ := url.Parse("http://admin:s3cret@192.0.2.10:5000/v3")
	if got := cloud.RedactURLs(u.String()); got != u.Redacted() {
		t.Errorf("RedactURLs = %q, url.Redacted = %q", got, u.Redacted())
	}
}

// An auth_url with user:password in it must not leak the password through
// any error Open returns: its own wrapping, or gophercloud's, which quotes
// the request URL.
func TestOpenErrorsRedactAuthURLPassword(t *testing.T) {
	cleanEnv(t)
	const pw = "url-Pa55word"
	refused := httptest.NewServer(http.NotFoundHandler())
	refusedURL := strings.Replace(refused.URL, "http://", "http://admin:"+pw+"@", 1) + "/v3/"
	refused.Close()
	k := cloudtest.NewKeystone(t)
	wrong := adminEntry(k)
	wrong.Password = "wrong-Pa55word"
	wrong.AuthURL = strings.Replace(k.AuthURL(), "http://", "http://admin:"+pw+"@", 1)
	unreach := adminEntry(k)
	unreach.AuthURL = refusedURL
	badPort := adminEntry(k)
	badPort.AuthURL = "http://admin:" + pw + "@127.0.0.1:notaport/v3"

	for name, e := range map[string]cloud.CloudEntry{"401": wrong, "refused": unreach, "unparseable": badPort} {
		_, err := cloud.Open(context.Background(), opts(writeClouds(t, e)))
		if err == nil {
			t.Errorf("%s: Open succeeded", name)
			continue
		}
		if msg := err.Error(); strings.Contains(msg, pw) {
			t.Errorf("%s: error leaks the auth_url password: %s", name, msg)
		} else if !strings.Contains(msg, "admin:xxxxx@") && name != "unparseable" {
			t.Errorf("%s: error %q should show the URL, redacted", name, msg)
		}
	}
}
