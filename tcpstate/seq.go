package tcpstate

// Sequence number arithmetic modulo 2^32 (RFC 793 section 3.3, RFC 1982
// serial number arithmetic): a is before b when the signed distance from b
// to a is negative. Valid while the two numbers are less than 2^31 apart,
// which TCP guarantees for numbers inside one window.

// seqBefore reports a < b in sequence space.
func seqBefore(a, b uint32) bool { return int32(a-b) < 0 }

// seqAfter reports a > b in sequence space.
func seqAfter(a, b uint32) bool { return int32(b-a) < 0 }

// seqLE reports a <= b in sequence space.
func seqLE(a, b uint32) bool { return int32(a-b) <= 0 }
