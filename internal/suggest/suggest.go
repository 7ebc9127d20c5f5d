// Package suggest finds the name a user probably meant, for "did you mean"
// hints in config files, playbooks and flags.
package suggest

import "strings"

// Distance is the Levenshtein edit distance between a and b, in bytes
// (names here are ASCII).
func Distance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// Closest returns the candidate nearest to s, ignoring case, when it is
// close enough to be a typo (about a third of s's length, at least two
// edits), else "".
func Closest(s string, candidates []string) string {
	best, bestD := "", -1
	for _, c := range candidates {
		d := Distance(strings.ToLower(s), strings.ToLower(c))
		if bestD < 0 || d < bestD {
			best, bestD = c, d
		}
	}
	limit := max(len(s)/3, 1)
	if bestD >= 0 && bestD <= limit+1 && bestD < len(s) {
		return best
	}
	return ""
}
