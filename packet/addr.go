package packet

import "strconv"

// IPString formats a host-order IPv4 address as dotted quad (control
// plane and error messages only: it allocates).
func IPString(a uint32) string {
	b := make([]byte, 0, 15)
	b = strconv.AppendUint(b, uint64(a>>24), 10)
	b = append(b, '.')
	b = strconv.AppendUint(b, uint64(a>>16&0xff), 10)
	b = append(b, '.')
	b = strconv.AppendUint(b, uint64(a>>8&0xff), 10)
	b = append(b, '.')
	b = strconv.AppendUint(b, uint64(a&0xff), 10)
	return string(b)
}
