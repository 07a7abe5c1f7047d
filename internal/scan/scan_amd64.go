package scan

import "golang.org/x/sys/cpu"

var kernel = detect()

func detect() int {
	switch {
	case cpu.X86.HasAVX512F && cpu.X86.HasAVX512BW && cpu.X86.HasAVX512VBMI:
		return kernelAVX512
	case cpu.X86.HasAVX2:
		return kernelAVX2
	}
	return kernelGeneric
}

// supported reports whether this CPU runs kernel k.
func supported(k int) bool { return k <= detect() }

// minVector is the shortest input the assembly kernels take.
const minVector = 64

func lineDot(b []byte) int {
	var k int
	switch {
	case len(b) < minVector:
		return lineDotGeneric(b)
	case kernel == kernelAVX512:
		k = lineDotAVX512(b)
	case kernel == kernelAVX2:
		k = lineDotAVX2(b)
	default:
		return lineDotGeneric(b)
	}
	if k == len(b) || isLineEnd(b[k-1]) {
		return k
	}
	return confirm(b, k)
}

// kernelLineDot returns the first candidate of the selected assembly
// kernel (see the package comment); len(b) >= minVector.
func kernelLineDot(b []byte) int {
	if kernel == kernelAVX512 {
		return lineDotAVX512(b)
	}
	return lineDotAVX2(b)
}

func copyLineDot(dst, src []byte) int {
	var k int
	switch {
	case len(src) < minVector:
		return copyLineDotGeneric(dst, src)
	case kernel == kernelAVX512:
		k = copyLineDotAVX512(&dst[0], src)
	case kernel == kernelAVX2:
		k = copyLineDotAVX2(&dst[0], src)
	default:
		return copyLineDotGeneric(dst, src)
	}
	if k == len(src) || isLineEnd(src[k-1]) {
		return k
	}
	return confirm(src, k)
}

// The kernels need len(b) >= 64. They return the index of the first "."
// after a byte below 0x10 (index 0 excluded), or len(b).

//go:noescape
func lineDotAVX512(b []byte) int

//go:noescape
func lineDotAVX2(b []byte) int

// copyLineDotAVX512 and copyLineDotAVX2 copy all of src to dst.
//
//go:noescape
func copyLineDotAVX512(dst *byte, src []byte) int

//go:noescape
func copyLineDotAVX2(dst *byte, src []byte) int
