package main

import (
	"strings"
	"testing"
)

// TestRunBadSpin: a bad -spin is refused before anything is opened, with
// an error that names the flag and the accepted forms.
func TestRunBadSpin(t *testing.T) {
	for _, v := range []string{"fast", "200", "0.5us", "10m"} {
		err := runMain([]string{"-c", "/nonexistent/cbacd.toml", "-spin", v})
		if err == nil || !strings.Contains(err.Error(), `-spin "`+v+`"`) {
			t.Errorf("-spin %s: error %v, want one naming -spin %q", v, err, v)
		}
	}
	// A good value gets past the flag: the missing file is the error.
	err := runMain([]string{"-c", "/nonexistent/cbacd.toml", "-spin", "50us"})
	if err == nil || strings.Contains(err.Error(), "-spin") {
		t.Errorf("-spin 50us: error %v, want the configuration's", err)
	}
}
