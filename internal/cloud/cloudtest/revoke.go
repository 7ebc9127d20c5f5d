package cloudtest

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
