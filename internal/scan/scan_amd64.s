#include "textflag.h"

// Line-start dot kernels (see scan.go). len(src) >= 64 on entry.
//
// Each step takes 64 (AVX-512) or 32 (AVX2) bytes X = src[i:] and the same
// bytes one back, P = src[i-1:], and looks for X == '.' && P == '\n'. At
// i == 0 the byte before src is not read: AVX-512 masks lane 0 out of the
// load of P, AVX2 shifts the LF mask of X instead. Steps may overlap the
// one before (the last one ends at len(src)); overlapped lanes had no hit,
// or the scan would have stopped there. After a hit the copy kernels go on
// copying without looking. lineDotAVX512 does so for up to 256 bytes only;
// longer inputs it reads in aligned blocks (see there).

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
DATA lf4<>+0(SB)/4, $0x0a0a0a0a
GLOBL lf4<>(SB), RODATA|NOPTR, $4

// AVX-512 (BW, VBMI). Hits are the zero bytes of (X ^ '.') | (P ^ '\n')
// (VPXORD, then VPTERNLOGD 0xF6: a | (b ^ c)); four steps are folded with
// VPMINUB and tested once (VPTESTNMB), so the loop spends one mask
// operation per 256 bytes. Registers: Z1 '.', Z2 LF, Z3 shift1, Z8 the
// previous 64 source bytes (becomes P), Z4-Z7 X, Z12-Z15 hits.
//
// Steps: the first 64 bytes with a masked load of P (lane 0 is zero, not
// LF); then from the first 64-byte boundary of dst on (1 to 64 bytes
// further, overlapping), 256 bytes at a time, then 64; then the last 64
// bytes, overlapping, with P loaded.

// func copyLineDotAVX512(dst *byte, src []byte) int
TEXT ·copyLineDotAVX512(SB), NOSPLIT, $0-40
	MOVQ dst+0(FP), DI
	MOVQ src_base+8(FP), SI
	MOVQ src_len+16(FP), CX
	MOVL $0x2e, AX
	VPBROADCASTB AX, Z1
	MOVL $0x0a, AX
	VPBROADCASTB AX, Z2
	VMOVDQU64 shift1<>(SB), Z3
	MOVQ $-2, AX
	KMOVQ AX, K1

	XORQ BX, BX
	VMOVDQU8 (SI), Z4
	VMOVDQU8.Z -1(SI), K1, Z8
	VMOVDQU8 Z4, (DI)
	VPCMPEQB Z1, Z4, K2
	VPCMPEQB Z2, Z8, K2, K3
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
	VPTERNLOGD $0xF6, Z8, Z2, Z12
	VPTERNLOGD $0xF6, Z9, Z2, Z13
	VPTERNLOGD $0xF6, Z10, Z2, Z14
	VPTERNLOGD $0xF6, Z11, Z2, Z15
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
	VPTERNLOGD $0xF6, Z8, Z2, Z12
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
	VPCMPEQB Z2, Z8, K2, K3
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
// leaves those lanes 0xFF, neither '.' nor LF, and so is the "previous
// block" of the first. The last block ends up to 63 bytes after src. An
// aligned block that holds a byte of src lies within a page of src, so the
// bytes read after src are mapped; a hit among them comes after any hit in
// src and is cut off (the result is at most len(src)).
//
// The fast loop spends three vector operations per block instead of the
// four of an exact test: VPERMT2B for P, then one VPTERNLOGD with the
// constant '.', t = b ? ~c : (c | a) per bit for a = P, b = '.', c = X
// (imm 0x76). t is zero where X == '.' and P has none of the bits that '.'
// lacks (0xD1): exact for X, but P may be any of the 16 bytes with those
// bits clear, LF and also NUL, ' ', '"', '(', ',' and '.' among them; no
// single VPTERNLOGD can test both X and P against their own constant.
// Four blocks are folded with VPMINUB and tested once, with VPTESTNMB and
// KMOVQ to a general register (KORTESTQ would take a vector port). A
// candidate is checked exactly: the LF lanes of its block shifted by one,
// and for lane 0 the byte before the block (lane 0 of the first block is
// never a candidate, its P being 0xFF). If none is a hit, the rest of src
// is scanned exactly (VPXORD, VPERMT2B, VPTERNLOGD 0xF6 as in
// copyLineDotAVX512): text with one such pair ("...", quotes) tends to
// have more, and each would cost a mispredicted branch. Registers: Z1 '.',
// Z2 LF, Z3 shift1, Z8 the previous block (becomes P, then t), Z4-Z7 X
// (then P, then t), Z12-Z15 exact hits.
//
// Steps: blocks four at a time while four are left, then one at a time.

// func lineDotAVX512(b []byte) int
TEXT ·lineDotAVX512(SB), NOSPLIT, $0-32
	MOVQ b_base+0(FP), SI
	MOVQ b_len+8(FP), CX
	VPBROADCASTD dot4<>(SB), Z1
	VPBROADCASTD lf4<>(SB), Z2
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
	JMP blockfirst

block:
	VMOVDQA64 (SI)(BX*1), Z4

blockfirst:
	VMOVDQA64 64(SI)(BX*1), Z5
	VMOVDQA64 128(SI)(BX*1), Z6
	VMOVDQA64 192(SI)(BX*1), Z7
	VPERMT2B Z4, Z3, Z8
	VPTERNLOGD $0x76, Z4, Z1, Z8
	VPERMT2B Z5, Z3, Z4
	VPTERNLOGD $0x76, Z5, Z1, Z4
	VPERMT2B Z6, Z3, Z5
	VPTERNLOGD $0x76, Z6, Z1, Z5
	VPERMT2B Z7, Z3, Z6
	VPTERNLOGD $0x76, Z7, Z1, Z6
	VPMINUB Z8, Z4, Z16
	VPMINUB Z5, Z6, Z17
	VPMINUB Z16, Z17, Z16
	VPTESTNMB Z16, Z16, K3
	KMOVQ K3, AX
	TESTQ AX, AX
	JNZ blockcheck
	VMOVDQA64 Z7, Z8
	ADDQ $256, BX
	CMPQ BX, R12
	JLE block

step:
	CMPQ BX, R8
	JGT none
	VMOVDQA64 (SI)(BX*1), Z4
	VPERMT2B Z4, Z3, Z8
	VPTERNLOGD $0x76, Z4, Z1, Z8
	VPTESTNMB Z8, Z8, K3
	VMOVDQA64 Z4, Z8
	KMOVQ K3, R9
	ADDQ $64, BX
	TESTQ R9, R9
	JZ step
	SUBQ $64, BX
	MOVL $1, R13
	JMP check

blockcheck: // candidates in the four blocks at BX
	VPTESTNMB Z8, Z8, K3
	KMOVQ K3, R9
	VPTESTNMB Z4, Z4, K3
	KMOVQ K3, R10
	VPTESTNMB Z5, Z5, K3
	KMOVQ K3, R11
	VPTESTNMB Z6, Z6, K3
	KMOVQ K3, DX
	MOVL $4, R13

check: // R9, R10, R11, DX: candidates of the R13 blocks at BX
	TESTQ R9, R9
	JZ checknext
	// Hits: candidates after a LF. Lane 0 is never a candidate in the
	// first block, so the byte before a block is read only in the others.
	VPCMPEQB (SI)(BX*1), Z2, K3
	KMOVQ K3, AX
	SHLQ $1, AX
	BTQ $0, R9
	JCC checklane0
	CMPB -1(SI)(BX*1), $0x0a
	JNE checklane0
	ORQ $1, AX

checklane0:
	ANDQ R9, AX
	JNZ found

checknext:
	ADDQ $64, BX
	MOVQ R10, R9
	MOVQ R11, R10
	MOVQ DX, R11
	DECQ R13
	JNZ check

	// No hit: scan the rest exactly.
	VMOVDQA64 -64(SI)(BX*1), Z8
	CMPQ BX, R12
	JGT exactstep

exactblock:
	VMOVDQA64 (SI)(BX*1), Z4
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
	VPTERNLOGD $0xF6, Z8, Z2, Z12
	VPTERNLOGD $0xF6, Z4, Z2, Z13
	VPTERNLOGD $0xF6, Z5, Z2, Z14
	VPTERNLOGD $0xF6, Z6, Z2, Z15
	VMOVDQA64 Z7, Z8
	VPMINUB Z12, Z13, Z16
	VPMINUB Z14, Z15, Z17
	VPMINUB Z16, Z17, Z16
	VPTESTNMB Z16, Z16, K3
	KMOVQ K3, AX
	TESTQ AX, AX
	JNZ exactblockfound
	ADDQ $256, BX
	CMPQ BX, R12
	JLE exactblock

exactstep:
	CMPQ BX, R8
	JGT none
	VMOVDQA64 (SI)(BX*1), Z4
	VPXORD Z1, Z4, Z12
	VPERMT2B Z4, Z3, Z8
	VPTERNLOGD $0xF6, Z8, Z2, Z12
	VMOVDQA64 Z4, Z8
	VPTESTNMB Z12, Z12, K3
	KMOVQ K3, AX
	TESTQ AX, AX
	JNZ found
	ADDQ $64, BX
	JMP exactstep

exactblockfound:
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

short: // 64 to 256 bytes, exactly, unaligned: the first step with a masked
	// load of P, then VPERMT2B, the last step overlapping with P loaded
	MOVQ $-2, AX
	KMOVQ AX, K1
	XORQ BX, BX
	VMOVDQU8 (SI), Z4
	VMOVDQU8.Z -1(SI), K1, Z8 // lane 0 is zero, not LF
	VPCMPEQB Z1, Z4, K2
	VPCMPEQB Z2, Z8, K2, K3
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
	VPTERNLOGD $0xF6, Z8, Z2, Z12
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
	VPCMPEQB Z2, Z8, K2, K3
	KMOVQ K3, AX
	TESTQ AX, AX
	JNZ found
	JMP none

// func copyLineDotAVX2(dst *byte, src []byte) int
TEXT ·copyLineDotAVX2(SB), NOSPLIT, $0-40
	MOVQ dst+0(FP), DI
	MOVQ src_base+8(FP), SI
	MOVQ src_len+16(FP), CX
	MOVL $0x2e, AX
	MOVQ AX, X1
	VPBROADCASTB X1, Y1
	MOVL $0x0a, AX
	MOVQ AX, X2
	VPBROADCASTB X2, Y2

	// i == 0: hits = dots & (LFs << 1), from X alone.
	XORQ BX, BX
	VMOVDQU (SI), Y0
	VMOVDQU Y0, (DI)
	VPCMPEQB Y1, Y0, Y4
	VPCMPEQB Y2, Y0, Y5
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
	VMOVDQU -1(SI)(BX*1), Y3
	VMOVDQU Y0, (DI)(BX*1)
	VPCMPEQB Y1, Y0, Y4
	VPCMPEQB Y2, Y3, Y5
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
	VMOVDQU -1(SI)(BX*1), Y3
	VMOVDQU Y0, (DI)(BX*1)
	VPCMPEQB Y1, Y0, Y4
	VPCMPEQB Y2, Y3, Y5
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
	MOVL $0x0a, AX
	MOVQ AX, X2
	VPBROADCASTB X2, Y2

	XORQ BX, BX
	VMOVDQU (SI), Y0
	VPCMPEQB Y1, Y0, Y4
	VPCMPEQB Y2, Y0, Y5
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
	VPCMPEQB -1(SI)(BX*1), Y2, Y5
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
	VPCMPEQB -1(SI)(BX*1), Y2, Y5
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
