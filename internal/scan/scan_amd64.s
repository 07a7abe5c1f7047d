#include "textflag.h"

// Line-start dot candidate kernels (see scan.go). len(src) >= 64 on entry.
// Each returns the index of the first "." after a byte below 0x10 (lane 0
// excluded), or len(src); scan.go confirms that the byte is CR or LF.
//
// Each step takes 64 (AVX-512) or 32 (AVX2) bytes X = src[i:] and the same
// bytes one back, P = src[i-1:], and looks for X == '.' && P & 0xF0 == 0.
// At i == 0 the byte before src is not read: AVX-512 masks lane 0 out of
// the load of P and of the dots, AVX2 shifts the mask of X's bytes below
// 0x10 instead. Steps may overlap the one before (the last one ends at
// len(src)); overlapped lanes had no hit, or the scan would have stopped
// there. After a hit the copy kernels go on copying without looking.
// lineDotAVX512 does so for up to 256 bytes only; longer inputs it reads
// in aligned blocks (see there).
//
// Why below 0x10 and not CR or LF exactly: no single VPTERNLOGD of X, P
// and one constant tests X == '.' together with P in any set of bytes
// that holds both CR (0x0D) and LF (0x0A) but not most of the others (the
// bits in which CR and LF differ, 0x07, are set in '.' at some places
// and clear at others), while (X ^ '.') | (P & 0xF0) is one VPXORD and
// one VPTERNLOGD; an exact test needs a second compare. Bytes below 0x10
// other than CR and LF (TAB, NUL) rarely precede a "." in mail.

// shift1 is the VPERMT2B index that makes P = (prev[63], X[0:63]) from
// the previous 64 bytes (table 1) and X (table 2): one shuffle instead of
// a second load of src, which straddles cache lines.
DATA shift1<>+0(SB)/8, $0x464544434241403F
DATA shift1<>+8(SB)/8, $0x4E4D4C4B4A494847
DATA shift1<>+16(SB)/8, $0x565554535251504F
DATA shift1<>+24(SB)/8, $0x5E5D5C5B5A595857
DATA shift1<>+32(SB)/8, $0x666564636261605F
DATA shift1<>+40(SB)/8, $0x6E6D6C6B6A696867
DATA shift1<>+48(SB)/8, $0x767574737271706F
DATA shift1<>+56(SB)/8, $0x7E7D7C7B7A797877
GLOBL shift1<>(SB), RODATA|NOPTR, $64

DATA dot4<>+0(SB)/4, $0x2e2e2e2e
GLOBL dot4<>(SB), RODATA|NOPTR, $4
DATA f04<>+0(SB)/4, $0xf0f0f0f0
GLOBL f04<>(SB), RODATA|NOPTR, $4

// AVX-512 (BW, VBMI). Hits are the zero bytes of (X ^ '.') | (P & 0xF0)
// (VPXORD, then VPTERNLOGD 0xF8: a | (b & c)); four steps are folded with
// VPMINUB and tested once (VPTESTNMB), so the loop spends one mask
// operation per 256 bytes. Registers: Z1 '.', Z2 0xF0, Z3 shift1, Z8 the
// previous 64 source bytes (becomes P), Z4-Z7 X, Z12-Z15 hits.
//
// Steps: the first 64 bytes with a masked load of P (lane 0 is zero, and
// masked out of the dots); then from the first 64-byte boundary of dst on
// (1 to 64 bytes further, overlapping), 256 bytes at a time, then 64; then
// the last 64 bytes, overlapping, with P loaded.

// func copyLineDotAVX512(dst *byte, src []byte) int
TEXT ·copyLineDotAVX512(SB), NOSPLIT, $0-40
	MOVQ dst+0(FP), DI
	MOVQ src_base+8(FP), SI
	MOVQ src_len+16(FP), CX
	MOVL $0x2e, AX
	VPBROADCASTB AX, Z1
	MOVL $0xf0, AX
	VPBROADCASTB AX, Z2
	VMOVDQU64 shift1<>(SB), Z3
	MOVQ $-2, AX
	KMOVQ AX, K1

	XORQ BX, BX
	VMOVDQU8 (SI), Z4
	VMOVDQU8.Z -1(SI), K1, Z8
	VMOVDQU8 Z4, (DI)
	VPCMPEQB Z1, Z4, K1, K2
	VPTESTNMB Z2, Z8, K2, K3
	KORTESTQ K3, K3
	JNZ found512

	MOVQ DI, BX
	NEGQ BX
	ANDQ $63, BX
	JNZ aligned512
	MOVQ $64, BX

aligned512:
	VPBROADCASTB -1(SI)(BX*1), Z8 // lane 63: the byte before src[BX]

block512:
	LEAQ 256(BX), AX
	CMPQ AX, CX
	JA step512
	VMOVDQU8 (SI)(BX*1), Z4
	VMOVDQU8 64(SI)(BX*1), Z5
	VMOVDQU8 128(SI)(BX*1), Z6
	VMOVDQU8 192(SI)(BX*1), Z7
	VMOVDQU8 Z4, (DI)(BX*1)
	VMOVDQU8 Z5, 64(DI)(BX*1)
	VMOVDQU8 Z6, 128(DI)(BX*1)
	VMOVDQU8 Z7, 192(DI)(BX*1)
	VMOVDQA64 Z4, Z9
	VMOVDQA64 Z5, Z10
	VMOVDQA64 Z6, Z11
	VPERMT2B Z4, Z3, Z8
	VPERMT2B Z5, Z3, Z9
	VPERMT2B Z6, Z3, Z10
	VPERMT2B Z7, Z3, Z11
	VPXORD Z1, Z4, Z12
	VPXORD Z1, Z5, Z13
	VPXORD Z1, Z6, Z14
	VPXORD Z1, Z7, Z15
	VPTERNLOGD $0xF8, Z8, Z2, Z12
	VPTERNLOGD $0xF8, Z9, Z2, Z13
	VPTERNLOGD $0xF8, Z10, Z2, Z14
	VPTERNLOGD $0xF8, Z11, Z2, Z15
	VMOVDQA64 Z7, Z8
	VPMINUB Z12, Z13, Z16
	VPMINUB Z14, Z15, Z17
	VPMINUB Z16, Z17, Z16
	VPTESTNMB Z16, Z16, K3
	KORTESTQ K3, K3
	JNZ blockfound512
	MOVQ AX, BX
	JMP block512

blockfound512:
	VPTESTNMB Z12, Z12, K3
	KORTESTQ K3, K3
	JNZ found512
	ADDQ $64, BX
	VPTESTNMB Z13, Z13, K3
	KORTESTQ K3, K3
	JNZ found512
	ADDQ $64, BX
	VPTESTNMB Z14, Z14, K3
	KORTESTQ K3, K3
	JNZ found512
	ADDQ $64, BX
	VPTESTNMB Z15, Z15, K3
	JMP found512

step512:
	LEAQ 64(BX), AX
	CMPQ AX, CX
	JA tail512
	VMOVDQU8 (SI)(BX*1), Z4
	VMOVDQU8 Z4, (DI)(BX*1)
	VPERMT2B Z4, Z3, Z8
	VPXORD Z1, Z4, Z12
	VPTERNLOGD $0xF8, Z8, Z2, Z12
	VMOVDQA64 Z4, Z8
	VPTESTNMB Z12, Z12, K3
	KORTESTQ K3, K3
	JNZ found512
	MOVQ AX, BX
	JMP step512

tail512:
	CMPQ BX, CX
	JEQ none512
	CMPQ CX, $64
	JEQ none512 // the first step covered it all
	MOVQ CX, BX
	SUBQ $64, BX
	VMOVDQU8 (SI)(BX*1), Z4
	VMOVDQU8 -1(SI)(BX*1), Z8
	VMOVDQU8 Z4, (DI)(BX*1)
	VPCMPEQB Z1, Z4, K2
	VPTESTNMB Z2, Z8, K2, K3
	KORTESTQ K3, K3
	JNZ found512

none512:
	VZEROUPPER
	MOVQ CX, ret+32(FP)
	RET

found512: // K3: hits of the 64 bytes at BX, at least one
	KMOVQ K3, AX
	TZCNTQ AX, AX
	ADDQ BX, AX
	MOVQ AX, ret+32(FP)
	ADDQ $64, BX

rest512:
	LEAQ 64(BX), AX
	CMPQ AX, CX
	JA resttail512
	VMOVDQU8 (SI)(BX*1), Z4
	VMOVDQU8 Z4, (DI)(BX*1)
	MOVQ AX, BX
	JMP rest512

resttail512:
	CMPQ BX, CX
	JAE restdone512
	MOVQ CX, BX
	SUBQ $64, BX
	VMOVDQU8 (SI)(BX*1), Z4
	VMOVDQU8 Z4, (DI)(BX*1)

restdone512:
	VZEROUPPER
	RET

// lineDotAVX512, past 256 bytes, reads src in 64-byte blocks aligned in
// memory, so that no load straddles cache lines (a straddling load costs
// two). The first block starts up to 63 bytes before src: a masked load
// leaves those lanes 0xFF, neither '.' nor below 0x10, and so is the
// "previous block" of the first. The last block ends up to 63 bytes after
// src. An aligned block that holds a byte of src lies within a page of
// src, so the bytes read after src are mapped; a hit among them comes
// after any hit in src and is cut off (the result is at most len(src)).
// Hits as in copyLineDotAVX512: VPXORD, VPERMT2B for P, VPTERNLOGD 0xF8;
// four blocks folded with VPMINUB and tested once, with VPTESTNMB and
// KMOVQ to a general register (KORTESTQ would take a vector port).
// Registers: Z1 '.', Z2 0xF0, Z3 shift1, Z8 the previous block (becomes
// P), Z4-Z7 X (then P), Z12-Z15 hits.
//
// Steps: blocks four at a time while four are left, then one at a time.

// func lineDotAVX512(b []byte) int
TEXT ·lineDotAVX512(SB), NOSPLIT, $0-32
	MOVQ b_base+0(FP), SI
	MOVQ b_len+8(FP), CX
	VPBROADCASTD dot4<>(SB), Z1
	VPBROADCASTD f04<>(SB), Z2
	CMPQ CX, $256
	JLE short
	VMOVDQU64 shift1<>(SB), Z3
	MOVQ $-1, AX
	SHLXQ SI, AX, AX // lanes from src[0] on (the shift count is SI mod 64)
	KMOVQ AX, K1
	MOVQ SI, BX
	ANDQ $63, BX
	NEGQ BX // BX: offset of the first block from src, -63 to 0
	LEAQ -1(CX), R8
	SUBQ BX, R8
	ANDQ $-64, R8
	ADDQ BX, R8 // R8: offset of the last block
	LEAQ -192(R8), R12 // R12: offset of the last block that starts four
	VPTERNLOGD $0xFF, Z8, Z8, Z8 // the "previous block" of the first: 0xFF
	VMOVDQA64 Z8, Z4
	VMOVDQU8 (SI)(BX*1), K1, Z4
	JMP blockfirst // more than 256 bytes: at least five blocks

block:
	VMOVDQA64 (SI)(BX*1), Z4

blockfirst:
	VMOVDQA64 64(SI)(BX*1), Z5
	VMOVDQA64 128(SI)(BX*1), Z6
	VMOVDQA64 192(SI)(BX*1), Z7
	VPXORD Z1, Z4, Z12
	VPXORD Z1, Z5, Z13
	VPXORD Z1, Z6, Z14
	VPXORD Z1, Z7, Z15
	VPERMT2B Z4, Z3, Z8
	VPERMT2B Z5, Z3, Z4
	VPERMT2B Z6, Z3, Z5
	VPERMT2B Z7, Z3, Z6
	VPTERNLOGD $0xF8, Z8, Z2, Z12
	VPTERNLOGD $0xF8, Z4, Z2, Z13
	VPTERNLOGD $0xF8, Z5, Z2, Z14
	VPTERNLOGD $0xF8, Z6, Z2, Z15
	VMOVDQA64 Z7, Z8
	VPMINUB Z12, Z13, Z16
	VPMINUB Z14, Z15, Z17
	VPMINUB Z16, Z17, Z16
	VPTESTNMB Z16, Z16, K3
	KMOVQ K3, AX
	TESTQ AX, AX
	JNZ blockfound
	ADDQ $256, BX
	CMPQ BX, R12
	JLE block

step:
	CMPQ BX, R8
	JGT none
	VMOVDQA64 (SI)(BX*1), Z4
	VPXORD Z1, Z4, Z12
	VPERMT2B Z4, Z3, Z8
	VPTERNLOGD $0xF8, Z8, Z2, Z12
	VMOVDQA64 Z4, Z8
	VPTESTNMB Z12, Z12, K3
	KMOVQ K3, AX
	TESTQ AX, AX
	JNZ found
	ADDQ $64, BX
	JMP step

blockfound:
	VPTESTNMB Z12, Z12, K3
	KMOVQ K3, AX
	TESTQ AX, AX
	JNZ found
	ADDQ $64, BX
	VPTESTNMB Z13, Z13, K3
	KMOVQ K3, AX
	TESTQ AX, AX
	JNZ found
	ADDQ $64, BX
	VPTESTNMB Z14, Z14, K3
	KMOVQ K3, AX
	TESTQ AX, AX
	JNZ found
	ADDQ $64, BX
	VPTESTNMB Z15, Z15, K3
	KMOVQ K3, AX

found: // AX: hits of the block at BX, at least one
	TZCNTQ AX, AX
	ADDQ BX, AX
	CMPQ AX, CX
	CMOVQGT CX, AX // a hit past the end, in the bytes after src
	VZEROUPPER
	MOVQ AX, ret+24(FP)
	RET

none:
	VZEROUPPER
	MOVQ CX, ret+24(FP)
	RET

short: // 64 to 256 bytes, unaligned: the first step with a masked load of
	// P, then VPERMT2B, the last step overlapping with P loaded
	MOVQ $-2, AX
	KMOVQ AX, K1
	XORQ BX, BX
	VMOVDQU8 (SI), Z4
	VMOVDQU8.Z -1(SI), K1, Z8 // lane 0 is zero, and masked out of the dots
	VPCMPEQB Z1, Z4, K1, K2
	VPTESTNMB Z2, Z8, K2, K3
	KMOVQ K3, AX
	TESTQ AX, AX
	JNZ found
	VMOVDQU64 shift1<>(SB), Z3
	VMOVDQA64 Z4, Z8
	MOVQ $64, BX

shortstep:
	LEAQ 64(BX), AX
	CMPQ AX, CX
	JGT shorttail
	VMOVDQU8 (SI)(BX*1), Z4
	VPXORD Z1, Z4, Z12
	VPERMT2B Z4, Z3, Z8
	VPTERNLOGD $0xF8, Z8, Z2, Z12
	VMOVDQA64 Z4, Z8
	VPTESTNMB Z12, Z12, K3
	KMOVQ K3, AX
	TESTQ AX, AX
	JNZ found
	ADDQ $64, BX
	JMP shortstep

shorttail:
	CMPQ BX, CX
	JEQ none
	MOVQ CX, BX
	SUBQ $64, BX
	VMOVDQU8 (SI)(BX*1), Z4
	VMOVDQU8 -1(SI)(BX*1), Z8
	VPCMPEQB Z1, Z4, K2
	VPTESTNMB Z2, Z8, K2, K3
	KMOVQ K3, AX
	TESTQ AX, AX
	JNZ found
	JMP none

// AVX2: per 32 bytes, the dots (VPCMPEQB) and the bytes of P below 0x10
// (VPAND 0xF0, VPCMPEQB with zero), tested together with VPTEST.
// Registers: Y1 '.', Y2 0xF0, Y7 zero.

// func copyLineDotAVX2(dst *byte, src []byte) int
TEXT ·copyLineDotAVX2(SB), NOSPLIT, $0-40
	MOVQ dst+0(FP), DI
	MOVQ src_base+8(FP), SI
	MOVQ src_len+16(FP), CX
	MOVL $0x2e, AX
	MOVQ AX, X1
	VPBROADCASTB X1, Y1
	MOVL $0xf0, AX
	MOVQ AX, X2
	VPBROADCASTB X2, Y2
	VPXOR Y7, Y7, Y7

	// i == 0: hits = dots & (controls << 1), from X alone.
	XORQ BX, BX
	VMOVDQU (SI), Y0
	VMOVDQU Y0, (DI)
	VPCMPEQB Y1, Y0, Y4
	VPAND Y2, Y0, Y5
	VPCMPEQB Y7, Y5, Y5
	VPMOVMSKB Y4, AX
	VPMOVMSKB Y5, DX
	SHLL $1, DX
	ANDL DX, AX
	JNZ foundbits2
	MOVQ $32, BX

loop2:
	LEAQ 32(BX), AX
	CMPQ AX, CX
	JA tail2
	VMOVDQU (SI)(BX*1), Y0
	VMOVDQU Y0, (DI)(BX*1)
	VPCMPEQB Y1, Y0, Y4
	VPAND -1(SI)(BX*1), Y2, Y5
	VPCMPEQB Y7, Y5, Y5
	VPTEST Y4, Y5
	JNZ found2
	MOVQ AX, BX
	JMP loop2

tail2:
	CMPQ BX, CX
	JEQ none2
	MOVQ CX, BX
	SUBQ $32, BX
	VMOVDQU (SI)(BX*1), Y0
	VMOVDQU Y0, (DI)(BX*1)
	VPCMPEQB Y1, Y0, Y4
	VPAND -1(SI)(BX*1), Y2, Y5
	VPCMPEQB Y7, Y5, Y5
	VPTEST Y4, Y5
	JNZ found2

none2:
	VZEROUPPER
	MOVQ CX, ret+32(FP)
	RET

found2:
	VPAND Y4, Y5, Y4
	VPMOVMSKB Y4, AX

foundbits2:
	TZCNTL AX, AX
	ADDQ BX, AX
	MOVQ AX, ret+32(FP)
	ADDQ $32, BX

rest2:
	LEAQ 32(BX), AX
	CMPQ AX, CX
	JA resttail2
	VMOVDQU (SI)(BX*1), Y0
	VMOVDQU Y0, (DI)(BX*1)
	MOVQ AX, BX
	JMP rest2

resttail2:
	CMPQ BX, CX
	JEQ restdone2
	MOVQ CX, BX
	SUBQ $32, BX
	VMOVDQU (SI)(BX*1), Y0
	VMOVDQU Y0, (DI)(BX*1)

restdone2:
	VZEROUPPER
	RET

// func lineDotAVX2(b []byte) int
TEXT ·lineDotAVX2(SB), NOSPLIT, $0-32
	MOVQ b_base+0(FP), SI
	MOVQ b_len+8(FP), CX
	MOVL $0x2e, AX
	MOVQ AX, X1
	VPBROADCASTB X1, Y1
	MOVL $0xf0, AX
	MOVQ AX, X2
	VPBROADCASTB X2, Y2
	VPXOR Y7, Y7, Y7

	XORQ BX, BX
	VMOVDQU (SI), Y0
	VPCMPEQB Y1, Y0, Y4
	VPAND Y2, Y0, Y5
	VPCMPEQB Y7, Y5, Y5
	VPMOVMSKB Y4, AX
	VPMOVMSKB Y5, DX
	SHLL $1, DX
	ANDL DX, AX
	JNZ foundbitsl2
	MOVQ $32, BX

loopl2:
	LEAQ 32(BX), AX
	CMPQ AX, CX
	JA taill2
	VPCMPEQB (SI)(BX*1), Y1, Y4
	VPAND -1(SI)(BX*1), Y2, Y5
	VPCMPEQB Y7, Y5, Y5
	VPTEST Y4, Y5
	JNZ foundl2
	MOVQ AX, BX
	JMP loopl2

taill2:
	CMPQ BX, CX
	JEQ nonel2
	MOVQ CX, BX
	SUBQ $32, BX
	VPCMPEQB (SI)(BX*1), Y1, Y4
	VPAND -1(SI)(BX*1), Y2, Y5
	VPCMPEQB Y7, Y5, Y5
	VPTEST Y4, Y5
	JNZ foundl2

nonel2:
	VZEROUPPER
	MOVQ CX, ret+24(FP)
	RET

foundl2:
	VPAND Y4, Y5, Y4
	VPMOVMSKB Y4, AX

foundbitsl2:
	TZCNTL AX, AX
	ADDQ BX, AX
	VZEROUPPER
	MOVQ AX, ret+24(FP)
	RET
