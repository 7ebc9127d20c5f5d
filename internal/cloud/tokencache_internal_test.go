package cloud

import (
	"encoding/json"
	"errors"
	"io/fs"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2"
)

// A cached token about to expire is not used (a run must not start on a
// token that dies mid-request) and is dropped.
func TestCachedTokenNearExpiryNotUsed(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		expires time.Time
		config  string
		use     bool
	}{
		{now.Add(time.Hour), "cfg", true},
		{now.Add(tokenMargin - time.Second), "cfg", false},
		{now.Add(-time.Hour), "cfg", false},
		{now.Add(time.Hour), "other clouds.yaml", false},
	} {
		store := TokenDir(t.TempDir())
		b, err := json.Marshal(cachedToken{Config: tc.config, ExpiresAt: tc.expires, Token: "tok", Body: json.RawMessage(`{"token":{}}`)})
		if err != nil {
			t.Fatal(err)
		}
		if err := store.Save("k", b); err != nil {
			t.Fatal(err)
		}
		s := &tokenSession{store: store, key: "k", config: "cfg", pc: &gophercloud.ProviderClient{}, now: func() time.Time { return now }}
		if got := s.fromCache(); got != tc.use {
			t.Errorf("expires %s, config %q: used = %v, want %v", tc.expires, tc.config, got, tc.use)
		}
		_, err = store.Load("k")
		if dropped := errors.Is(err, fs.ErrNotExist); dropped == tc.use {
			t.Errorf("expires %s, config %q: dropped = %v, want %v", tc.expires, tc.config, dropped, !tc.use)
		}
		if tc.use && s.pc.Token() != "tok" {
			t.Errorf("provider token not set from the cache")
		}
	}
}
