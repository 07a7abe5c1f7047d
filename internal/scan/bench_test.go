package scan

import (
	"bytes"
	"testing"
)

// The SMTP data path's case: a 1460-byte segment of message lines (no
// line-start dot) at offset 54 of a frame, copied into a 16 KiB replay
// ring at the offset where the previous segment ended.
func benchSegment() (frame, ring []byte) {
	line := []byte("Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor 0123456789\r\n")
	frame = make([]byte, 2048)
	copy(frame[54:], bytes.Repeat(line, 1460/len(line)+1)[:1460])
	return frame[54 : 54+1460], make([]byte, 16384)
}

func benchKernels(b *testing.B, f func(b *testing.B)) {
	saved := kernel
	defer func() { kernel = saved }()
	for k, name := range kernelNames {
		if !supported(k) {
			continue
		}
		kernel = k
		b.Run(name, f)
	}
}

func BenchmarkCopyLineDot1460(b *testing.B) {
	benchKernels(b, func(b *testing.B) {
		src, ring := benchSegment()
		off := 0
		b.SetBytes(int64(len(src)))
		for i := 0; i < b.N; i++ {
			if off+len(src) > len(ring) {
				off = 0
			}
			if CopyLineDot(ring[off:], src) != len(src) {
				b.Fatal("dot")
			}
			off += len(src)
		}
	})
}

func BenchmarkLineDot1460(b *testing.B) {
	benchKernels(b, func(b *testing.B) {
		src, _ := benchSegment()
		b.SetBytes(int64(len(src)))
		for i := 0; i < b.N; i++ {
			if LineDot(src) != len(src) {
				b.Fatal("dot")
			}
		}
	})
}

// What CopyLineDot replaces: copy, then bytes.IndexByte for '.'.
func BenchmarkCopyThenIndexByte1460(b *testing.B) {
	src, ring := benchSegment()
	off := 0
	b.SetBytes(int64(len(src)))
	for i := 0; i < b.N; i++ {
		if off+len(src) > len(ring) {
			off = 0
		}
		copy(ring[off:], src)
		if bytes.IndexByte(src, '.') >= 0 {
			b.Fatal("dot")
		}
		off += len(src)
	}
}

func BenchmarkCopy1460(b *testing.B) {
	src, ring := benchSegment()
	off := 0
	b.SetBytes(int64(len(src)))
	for i := 0; i < b.N; i++ {
		if off+len(src) > len(ring) {
			off = 0
		}
		copy(ring[off:], src)
		off += len(src)
	}
}

func BenchmarkIndexByte1460(b *testing.B) {
	src, _ := benchSegment()
	b.SetBytes(int64(len(src)))
	for i := 0; i < b.N; i++ {
		if bytes.IndexByte(src, '.') >= 0 {
			b.Fatal("dot")
		}
	}
}

// Prose: sentences, an ellipsis, a parenthesis before a "." and a quoted
// sentence, CRLF lines, no line-start dot. Pairs such as "..", ")." and
// "\"." are where a filter on the byte before the "." would stop.
func BenchmarkLineDotProse1460(b *testing.B) {
	line := []byte("He said \"wait...\" (see the notes). Then, at 10.30, it rained; all left.\r\n")
	src := bytes.Repeat(line, 1460/len(line)+1)[:1460]
	benchKernels(b, func(b *testing.B) {
		b.SetBytes(int64(len(src)))
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			if LineDot(src) != len(src) {
				b.Fatal("dot")
			}
		}
	})
}
