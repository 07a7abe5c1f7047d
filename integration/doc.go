// Package integration holds the end-to-end tests of cbac: the real cbacd
// and cbacctl binaries, built once by TestMain, running on the seed network
// of package lab (network namespaces, veth pairs, AF_XDP on out0 and in0).
//
// Every test needs root (network namespaces and AF_XDP) and skips without
// it; CI runs as root. Each test builds its own lab under a unique
// namespace prefix and tears it down in t.Cleanup, so the tests do not
// disturb a user's running lab (prefix "cbac-") or each other.
//
//	sudo go test -race -count=1 ./integration/
package integration
