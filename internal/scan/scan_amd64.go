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
	if len(b) < minVector || kernel == kernelGeneric {
		return lineDotGeneric(b)
	}
	return confirm(b, kernelLineDot(b))
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
	if len(src) < minVector {
		return copyLineDotGeneric(dst, src)
	}
	switch kernel {
	case kernelAVX512:
		return confirm(src, copyLineDotAVX512(&dst[0], src))
	case kernelAVX2:
		return confirm(src, copyLineDotAVX2(&dst[0], src))
	}
	return copyLineDotGeneric(dst, src)
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
