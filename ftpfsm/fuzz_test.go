// Run in CI for a bounded time:
//
//	go test -run=^$ -fuzz=FuzzClient -fuzztime=10s ./ftpfsm
//	go test -run=^$ -fuzz=FuzzServer -fuzztime=10s ./ftpfsm
package ftpfsm

import (
	"math/rand/v2"
	"testing"
	"unsafe"
)

// maxSessionSize bounds the per-session state: the machine keeps no more
// than the current command line's and reply line's state whatever the
// input.
const maxSessionSize = 128

func randomSplit(seed uint64) splitter {
	rng := rand.New(rand.NewPCG(seed, seed>>32|1))
	every := 1 + int(seed%7) // cut density: one cut in every.. bytes
	return func(event, n int) []int {
		var segs []int
		last := 0
		for i := 1; i < n; i++ {
			if rng.IntN(every) == 0 {
				segs = append(segs, i-last)
				last = i
			}
		}
		return append(segs, n-last)
	}
}

// checkRewrites fails unless out is in with some octets turned into 'x',
// CR and LF never.
func checkRewrites(t *testing.T, in, out string) {
	if len(in) != len(out) {
		t.Fatalf("length changed from %d to %d", len(in), len(out))
	}
	for i := 0; i < len(in); i++ {
		if in[i] != out[i] && (out[i] != 'x' || in[i] == '\r' || in[i] == '\n') {
			t.Fatalf("octet %d changed from %q to %q", i, in[i], out[i])
		}
	}
}

func fuzzSeeds(f *testing.F, client bool) {
	for i, tc := range transcriptCases() {
		f.Add(uint64(i), true, []byte(clientBytes(tc.steps, !client)))
		f.Add(uint64(i)*7919, false, []byte(clientBytes(tc.steps, !client)))
	}
}

func FuzzClient(f *testing.F) {
	checkSessionSize(f)
	fuzzSeeds(f, true)
	f.Fuzz(func(t *testing.T, seed uint64, loggedIn bool, stream []byte) {
		steps := []step{C(string(stream))}
		if loggedIn {
			steps = []step{S("220 ready\r\n"), C("USER a\r\nPASS b\r\n"), S("331 p\r\n230 ok\r\n"), C(string(stream))}
		}
		whole := play(t, steps, whole)
		checkRewrites(t, string(stream), whole.client[len(whole.client)-len(stream):])
		if got := play(t, steps, randomSplit(seed)); got.String() != whole.String() {
			t.Fatalf("segmentation changed the outcome:\n got %s\nwant %s", got, whole)
		}
	})
}

func FuzzServer(f *testing.F) {
	checkSessionSize(f)
	fuzzSeeds(f, false)
	f.Fuzz(func(t *testing.T, seed uint64, login bool, stream []byte) {
		steps := []step{S(string(stream))}
		if login {
			steps = []step{C("USER a\r\nPASS b\r\nPASV\r\n"), S(string(stream))}
		}
		whole := play(t, steps, whole) // play fails if Server changes a byte
		if got := play(t, steps, randomSplit(seed)); got.String() != whole.String() {
			t.Fatalf("segmentation changed the outcome:\n got %s\nwant %s", got, whole)
		}
	})
}

func checkSessionSize(tb testing.TB) {
	if sz := unsafe.Sizeof(Session{}); sz > maxSessionSize {
		tb.Fatalf("Session is %d bytes, bound %d", sz, maxSessionSize)
	}
}

func TestSessionSize(t *testing.T) {
	t.Logf("Session is %d bytes, Result %d, Shift %d", unsafe.Sizeof(Session{}), unsafe.Sizeof(Result{}), unsafe.Sizeof(Shift{}))
	checkSessionSize(t)
}
