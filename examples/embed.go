// Package examples ships the reference configurations; the seed router's
// is the embedded default of `cbacd lab`.
package examples

import _ "embed"

// Seed3640 is seed-3640.toml: the seed's Cisco 3640 router as cbacd
// configuration (a contract: it loads unchanged and behaves as the seed).
//
//go:embed seed-3640.toml
var Seed3640 []byte
