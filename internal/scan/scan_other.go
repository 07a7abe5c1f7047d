//go:build !amd64

package scan

var kernel = kernelGeneric

func supported(k int) bool { return k == kernelGeneric }

func lineDot(b []byte) int { return lineDotGeneric(b) }

func copyLineDot(dst, src []byte) int { return copyLineDotGeneric(dst, src) }
