package cloud

import (
	"regexp"
	"strings"
)

// urlUserinfo matches a URL's scheme and userinfo: everything up to the last
// "@" of the authority, as url.Parse reads it.
var urlUserinfo = regexp.MustCompile(`([a-zA-Z][a-zA-Z0-9+.-]*://)([^/\s?#]*)@`)

// RedactURLs returns s with the password of every URL's userinfo replaced
// by "xxxxx", as url.URL.Redacted writes it. An auth_url may be written
// http://user:password@host:5000/v3, and it reaches messages through our
// own errors and through gophercloud's, which quote the request URL; a
// text filter covers both, and URLs that do not even parse.
func RedactURLs(s string) string {
	if !strings.Contains(s, "@") {
		return s
	}
	return urlUserinfo.ReplaceAllStringFunc(s, func(m string) string {
		sub := urlUserinfo.FindStringSubmatch(m)
		user, _, hasPassword := strings.Cut(sub[2], ":")
		if !hasPassword {
			return m
		}
		return sub[1] + user + ":xxxxx@"
	})
}
