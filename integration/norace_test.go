//go:build !race

package integration

// raceEnabled: the test binary runs under the race detector (go test -race).
const raceEnabled = false
