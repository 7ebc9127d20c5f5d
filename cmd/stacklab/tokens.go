package main

import (
	"os"

	"github.com/stacklab/stacklab/internal/cloud"
)

// noTokenCacheEnv turns the token cache off (benchmarks of a cold run).
const noTokenCacheEnv = "STACKLAB_NO_TOKEN_CACHE"

// tokenDir is where run and doctor keep keystone tokens between runs; ""
// when there is none to use.
func tokenDir() string {
	if os.Getenv(noTokenCacheEnv) != "" {
		return ""
	}
	dir, err := cloud.DefaultTokenDir()
	if err != nil {
		return ""
	}
	return dir
}

// tokenCache is tokenDir as a cloud.TokenStore; nil logs in every time.
func tokenCache() cloud.TokenStore {
	dir := tokenDir()
	if dir == "" {
		return nil
	}
	return cloud.TokenDir(dir)
}

// forgetTokens drops every cached token after a change that may have
// moved catalog endpoints: the next run logs in and reads the new catalog.
// Failing to is not the command's failure; a stale catalog heals when the
// token expires or keystone refuses it.
func forgetTokens() {
	if dir, err := cloud.DefaultTokenDir(); err == nil {
		_ = cloud.TokenDir(dir).Clear()
	}
}
