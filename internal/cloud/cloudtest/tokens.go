package cloudtest

import (
	"net/http"
	"slices"
)

// RevokeTokens invalidates every token issued so far, as a keystone
// restart with rotated fernet keys, or `openstack token revoke`, does.
func (k *Keystone) RevokeTokens() {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.tokens = map[string]string{}
}

// TokenValid tells whether keystone would accept tok now: fakes of the
// other services check their callers' tokens with it.
func (k *Keystone) TokenValid(tok string) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	_, ok := k.tokens[tok]
	return ok
}

// Logins counts the password logins (POST /v3/auth/tokens) served so far:
// each costs a real keystone a bcrypt hash.
func (k *Keystone) Logins() int {
	n := 0
	for _, r := range k.Requests() {
		if r.Method == "POST" && r.Path == "/v3/auth/tokens" {
			n++
		}
	}
	return n
}

// authProjects answers GET /v3/auth/projects: the projects the token's
// user holds a role on, which any user may ask.
func (k *Keystone) authProjects(r *http.Request) (int, any, *apiError) {
	user := k.tokens[r.Header.Get("X-Auth-Token")]
	out := []Project{}
	for a := range k.assignments {
		if p := k.projects[a.ProjectID]; a.UserID == user && p != nil && !slices.ContainsFunc(out, func(x Project) bool { return x.ID == p.ID }) {
			out = append(out, *p)
		}
	}
	return http.StatusOK, map[string]any{"projects": out}, nil
}
