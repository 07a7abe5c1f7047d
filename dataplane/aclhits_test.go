package dataplane_test

import (
	"slices"
	"strings"
	"testing"

	"cbac/acl"
	"cbac/dataplane"
)

// rulesetACLs is a Ruleset holding only access lists ("NAME: entry; entry").
func rulesetACLs(t *testing.T, lists ...string) *dataplane.Ruleset {
	t.Helper()
	rs := &dataplane.Ruleset{}
	for _, l := range lists {
		name, body, _ := strings.Cut(l, ":")
		var es []acl.Entry
		for _, text := range strings.Split(body, ";") {
			if text = strings.TrimSpace(text); text == "" {
				continue
			}
			e, err := acl.ParseEntry(text)
			if err != nil {
				t.Fatalf("%q: %v", text, err)
			}
			es = append(es, e)
		}
		rs.ACLs = append(rs.ACLs, acl.Compile(name, es))
	}
	return rs
}

// ACL match counters follow their entries across a reload by list name and
// entry text, not by position.
func TestCarryACLHits(t *testing.T) {
	const (
		smtp = "permit tcp any host 172.22.1.110 eq smtp"
		www  = "permit tcp any host 172.22.1.110 eq www"
		ping = "permit icmp any any"
	)
	old := rulesetACLs(t, "101:"+smtp+";"+www, "OTHER:"+ping)
	hits := [][]uint64{{5, 7, 11}, {13, 17}} // [acl][entry], last: implicit deny
	for _, c := range []struct {
		name string
		next []string
		want [][]uint64
	}{
		{"unchanged", []string{"101:" + smtp + ";" + www, "OTHER:" + ping}, [][]uint64{{5, 7, 11}, {13, 17}}},
		{"lists reordered", []string{"OTHER:" + ping, "101:" + smtp + ";" + www}, [][]uint64{{13, 17}, {5, 7, 11}}},
		{"entry inserted first", []string{"101:deny ip host 1.2.3.4 any;" + smtp + ";" + www}, [][]uint64{{0, 5, 7, 11}}},
		{"entries swapped", []string{"101:" + www + ";" + smtp}, [][]uint64{{7, 5, 11}}},
		{"entry removed", []string{"101:" + www}, [][]uint64{{7, 11}}},
		{"entry changed", []string{"101:" + smtp + ";permit tcp any host 172.22.1.110 eq 443"}, [][]uint64{{5, 0, 11}}},
		{"same entry spelt by port number", []string{"101:permit tcp any host 172.22.1.110 eq 25;" + www}, [][]uint64{{5, 7, 11}}},
		{"list renamed", []string{"102:" + smtp + ";" + www}, [][]uint64{{0, 0, 0}}},
		{"duplicate text: k-th takes the k-th", []string{"101:" + smtp + ";" + smtp + ";" + www}, [][]uint64{{5, 0, 7, 11}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := dataplane.CarryACLHits(old, rulesetACLs(t, c.next...), hits)
			if !slices.EqualFunc(got, c.want, slices.Equal) {
				t.Errorf("counters %v, want %v", got, c.want)
			}
		})
	}
	// The first ruleset starts from zero.
	if got := dataplane.CarryACLHits(nil, old, nil); !slices.EqualFunc(got, [][]uint64{{0, 0, 0}, {0, 0}}, slices.Equal) {
		t.Errorf("first ruleset: %v", got)
	}
}

// Through a running worker: counts taken before a Swap that inserts an
// entry ahead of ACL 101's stay with their entries.
func TestReloadKeepsACLHits(t *testing.T) {
	seed := string(seedWithNeighbours(t, true))
	h := newHarness(t, compile(t, []byte(seed)))
	syn := func(port uint16) []byte {
		return tcpFrame(t, seg{src: "172.22.1.100", dst: "172.22.1.110", sport: 41000 + port, dport: port, seq: 1, syn: true, srcMAC: macClient, dstMAC: macOut0})
	}
	h.send(0, syn(25))
	h.send(0, syn(80))
	h.send(0, syn(80))
	if got := h.w.Stats.ACLHits[0]; !slices.Equal(got, []uint64{1, 2}) {
		t.Fatalf("before the reload: %v, want [1 2]", got)
	}
	next := strings.Replace(seed, `"permit tcp any host 172.22.1.110 eq smtp",`,
		`"deny tcp host 172.22.1.99 any",`+"\n"+`"permit tcp any host 172.22.1.110 eq smtp",`, 1)
	if err := h.dp.Swap(compile(t, []byte(next))); err != nil {
		t.Fatal(err)
	}
	h.send(0, syn(80))
	if got := h.w.Stats.ACLHits[0]; !slices.Equal(got, []uint64{0, 1, 3}) {
		t.Errorf("after inserting an entry first: %v, want [0 1 3]", got)
	}
}
