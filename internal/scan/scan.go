// Package scan holds the byte scans of the SMTP data path that are worth
// vector code: finding a "." that begins a line (the only byte of message
// data that can end it, RFC 5321 section 4.1.1.4), alone or while copying
// the data into a session's replay copy (tcpstream), in one pass.
//
// A line-start dot is a "." right after a LF: index k >= 1 of b with
// b[k] == '.' and b[k-1] == '\n'. Index 0 is never one: what precedes b is
// the caller's state.
//
// On amd64 with AVX-512 (BW, VBMI) or AVX2 the scans are assembly;
// elsewhere, and for inputs shorter than 64 bytes, they are copy and
// bytes.IndexByte.
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

// lineDotGeneric is LineDot in Go: each "." found by bytes.IndexByte is
// checked against the byte before it. When dots are more frequent than
// about one per 64 bytes scanned (prose; shorter lines are rare), it looks
// for LF instead, which stops once per line.
func lineDotGeneric(b []byte) int {
	i := 1
	fails := 0
	for i < len(b) {
		j := bytes.IndexByte(b[i:], '.')
		if j < 0 {
			break
		}
		i += j
		if b[i-1] == '\n' {
			return i
		}
		i++
		fails++
		if fails > i/64+1 {
			return lineDotLF(b, i)
		}
	}
	return len(b)
}

// lineDotLF is lineDotGeneric looking for LF from b[i]; b[i] is not a
// line-start dot.
func lineDotLF(b []byte, i int) int {
	for i < len(b) {
		j := bytes.IndexByte(b[i:], '\n')
		if j < 0 {
			break
		}
		i += j + 1
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
