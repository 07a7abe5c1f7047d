package bench

import (
	"slices"
	"testing"
)

// TestMTAContendersSpins: with -mta-spin, scenario 8 runs cbacd once per
// -spin value in the given order in place of cbacd and cbacd-default;
// without it, cbacd and cbacd-default as before.
func TestMTAContendersSpins(t *testing.T) {
	cbacd, nft := Contenders[0], Contender{Name: "nftables", Kind: KindNFT, NAT: true}
	names := func(cs []Contender) (n, spins []string) {
		for _, c := range cs {
			n, spins = append(n, c.Name), append(spins, c.Spin)
		}
		return n, spins
	}
	b := &Bench{res: &Results{Contenders: []Contender{cbacd, nft}}}
	n, _ := names(b.mtaContenders())
	if want := []string{"cbacd", "cbacd-default", "nftables"}; !slices.Equal(n, want) {
		t.Errorf("without -mta-spin: %v, want %v", n, want)
	}
	b.opts.MTASpins = []string{"never", "200us", "auto"}
	cs := b.mtaContenders()
	n, spins := names(cs)
	if want := []string{"cbacd-spin-never", "cbacd-spin-200us", "cbacd-spin-auto", "nftables"}; !slices.Equal(n, want) {
		t.Errorf("-mta-spin: %v, want %v", n, want)
	}
	if want := []string{"never", "200us", "auto", ""}; !slices.Equal(spins, want) {
		t.Errorf("-mta-spin: spins %v, want %v", spins, want)
	}
	if !cs[0].pinnedByBench() || cs[0].Kind != KindCBACD || !cs[0].NAT {
		t.Errorf("a spin variant must be cbacd as the bench pins it: %+v", cs[0])
	}
}
