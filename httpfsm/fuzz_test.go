package httpfsm

import (
	"math/rand/v2"
	"testing"
	"unsafe"
)

// maxSessionSize bounds the per-connection state.
const maxSessionSize = 160

// randomSplit cuts steps at random points drawn from seed.
func randomSplit(seed uint64) splitter {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	return func(n int) []int {
		var out []int
		for n > 0 {
			k := 1 + r.IntN(n)
			out = append(out, k)
			n -= k
		}
		if len(out) == 0 {
			out = []int{0}
		}
		return out
	}
}

// FuzzResponse checks that any server stream gives the same outcome at
// the same octet however it is segmented, and that the Session stays
// within its size.
func FuzzResponse(f *testing.F) {
	f.Add(uint64(1), "GET / HTTP/1.1\r\n\r\n", resp(cl(class), class))
	f.Add(uint64(2), "GET / HTTP/1.1\r\nGET / HTTP/1.1\r\n\r\n", resp("Transfer-Encoding: chunked\r\n", chunked("\xca\xfe", "\xba\xbe")))
	f.Add(uint64(3), "HEAD / HTTP/1.1\r\n\r\n", resp("Content-Type: application/java-vm\r\n"+cl(class), class))
	f.Add(uint64(4), "POST / HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc", "HTTP/1.1 100 Continue\r\n\r\n"+resp(cl("PK\x03\x04"), "PK\x03\x04"))
	f.Add(uint64(5), "CONNECT a:1 HTTP/1.1\r\n\r\n", "HTTP/1.1 200 OK\r\n\r\n"+class)
	f.Add(uint64(6), "GET /\r\n", class)
	f.Fuzz(func(t *testing.T, seed uint64, req, rsp string) {
		if unsafe.Sizeof(Session{}) > maxSessionSize {
			t.Fatalf("Session is %d bytes", unsafe.Sizeof(Session{}))
		}
		steps := []step{C(req), S(rsp)}
		w := play(steps, whole)
		if w.applet && (w.at < 0 || w.at >= len(rsp)) {
			t.Fatalf("applet at %d outside the %d-octet stream", w.at, len(rsp))
		}
		if got := play(steps, randomSplit(seed)); got != w {
			t.Fatalf("segmentation changed the outcome:\n got %v\nwant %v", got, w)
		}
		if got := play(steps, bytewise); got != w {
			t.Fatalf("one octet per segment:\n got %v\nwant %v", got, w)
		}
	})
}

func TestSessionSize(t *testing.T) {
	t.Logf("Session is %d bytes", unsafe.Sizeof(Session{}))
	if unsafe.Sizeof(Session{}) > maxSessionSize {
		t.Fatalf("Session is %d bytes, bound %d", unsafe.Sizeof(Session{}), maxSessionSize)
	}
}
