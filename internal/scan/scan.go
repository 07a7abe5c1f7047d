// Package scan holds the byte scans of the SMTP data path that are worth
// vector code: finding a "." right after a CR or a LF (the only bytes of
// message data that can end it, RFC 5321 section 4.1.1.4, or that a server
// ending lines at a bare CR or LF could take as an end: SMTP smuggling),
// alone or while copying the data into a session's replay copy
// (tcpstream), in one pass.
//
// A line-start dot is a "." right after a CR or a LF: index k >= 1 of b
// with b[k] == '.' and b[k-1] == '\r' or '\n'. Index 0 is never one: what
// precedes b is the caller's state.
//
// On amd64 with AVX-512 (BW, VBMI) or AVX2 the scans are assembly;
// elsewhere, and for inputs shorter than 64 bytes, they are copy and
// bytes.IndexByte. The assembly kernels find candidates, a "." after any
// byte below 0x10 (a control character: CR, LF, TAB, NUL, ...), which
// costs one vector operation more than an exact test of LF alone and one
// less than an exact test of CR and LF; the Go side confirms the candidate
// and, for the rare one that is not a line-start dot, goes on from it.
package scan

import "bytes"

// Which kernel runs; tests switch it to cover every path on one machine.
const (
	kernelGeneric = iota
	kernelAVX2
	kernelAVX512
)

// LineDot returns the index of the first line-start dot in b, or len(b).
// The AVX-512 kernel may read, and ignores, bytes before b[0] and after
// b[len(b)-1] that share an aligned 64-byte block with b: they lie in b's
// pages, so the reads never fault, but b must not be memory whose reads
// have effects.
func LineDot(b []byte) int {
	return lineDot(b)
}

// CopyLineDot copies src into dst (which must be at least as long; it
// panics otherwise) and returns the index of the first line-start dot in
// src, or len(src). It is copy(dst, src) and LineDot(src) in one pass over
// src.
func CopyLineDot(dst, src []byte) int {
	if len(dst) < len(src) {
		panic("scan: CopyLineDot: dst shorter than src")
	}
	return copyLineDot(dst, src)
}

// isLineEnd reports whether c is CR or LF.
func isLineEnd(c byte) bool { return c == '\n' || c == '\r' }

// maxMisses is how many candidates of a kernel that are not line-start
// dots LineDot follows up with the kernel before it finishes in Go: text
// with one such pair ("\t.") rarely has many, and a crafted segment full
// of them must not cost a kernel call each.
const maxMisses = 2

// confirm returns k, the kernel's first candidate in b (a "." after a
// byte below 0x10, or len(b)), if it is a line-start dot or len(b), else
// the first line-start dot after it.
func confirm(b []byte, k int) int {
	for misses := 0; k < len(b) && !isLineEnd(b[k-1]); misses++ {
		if misses == maxMisses || len(b)-k < minVector {
			return k + lineDotGeneric(b[k:])
		}
		k += kernelLineDot(b[k:])
	}
	return k
}

// lineDotGeneric is LineDot in Go: each "." found by bytes.IndexByte is
// checked against the byte before it. When dots are more frequent than
// about one per 64 bytes scanned (prose; shorter lines are rare), it looks
// for line ends instead (lineDotEOL), which stops about once per line.
func lineDotGeneric(b []byte) int {
	i := 1
	fails := 0
	for i < len(b) {
		j := bytes.IndexByte(b[i:], '.')
		if j < 0 {
			break
		}
		i += j
		if isLineEnd(b[i-1]) {
			return i
		}
		i++
		fails++
		if fails > i/64+1 {
			return lineDotEOL(b, i)
		}
	}
	return len(b)
}

// lineDotEOL is lineDotGeneric looking for CR and LF from b[i]; b[i] is
// not a line-start dot. cr and lf are the next CR and LF at or after i (-1:
// none left), each found again only once passed, so b is read about twice.
func lineDotEOL(b []byte, i int) int {
	cr, lf := i-1, i-1
	for i < len(b) {
		if cr >= 0 && cr < i {
			if cr = bytes.IndexByte(b[i:], '\r'); cr >= 0 {
				cr += i
			}
		}
		if lf >= 0 && lf < i {
			if lf = bytes.IndexByte(b[i:], '\n'); lf >= 0 {
				lf += i
			}
		}
		e := lf
		if cr >= 0 && (lf < 0 || cr < lf) {
			e = cr
		}
		if e < 0 {
			break
		}
		i = e + 1
		if i < len(b) && b[i] == '.' {
			return i
		}
	}
	return len(b)
}

func copyLineDotGeneric(dst, src []byte) int {
	copy(dst, src)
	return lineDotGeneric(src)
}
