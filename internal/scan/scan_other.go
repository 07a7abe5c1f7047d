//go:build !amd64

package scan

var kernel = kernelGeneric

func supported(k int) bool { return k == kernelGeneric }

// minVector is unused without assembly kernels but keeps confirm's
// arithmetic shared.
const minVector = 64

func lineDot(b []byte) int { return lineDotGeneric(b) }

func copyLineDot(dst, src []byte) int { return copyLineDotGeneric(dst, src) }

func kernelLineDot(b []byte) int { return lineDotGeneric(b) }
