package lab

// ICMP echo from a lab namespace, without a ping binary: a raw ICMP socket
// created inside the namespace.

import (
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync/atomic"
	"time"
)

// pingID makes the echo identifiers of concurrent pings differ.
var pingID atomic.Uint32

// Ping sends count ICMP echo requests from the namespace of role to dst,
// one every interval, and returns how many matching echo replies arrived
// before ctx ends or one second after the last request.
func (l *Lab) Ping(ctx context.Context, role string, dst netip.Addr, count int, interval time.Duration) (int, error) {
	if !dst.Is4() {
		return 0, fmt.Errorf("ping %s: not an IPv4 address", dst)
	}
	pc, err := l.ListenPacket(role, "ip4:icmp", "0.0.0.0")
	if err != nil {
		return 0, err
	}
	defer pc.Close()
	id := uint16(os.Getpid()) ^ uint16(pingID.Add(1)*7919)

	replies := make(chan uint16, count)
	go func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return // pc closed
			}
			// IPConn.ReadFrom strips the IPv4 header: buf is the ICMP message.
			ip, ok := from.(*net.IPAddr)
			if !ok || n < 8 || buf[0] != 0 || buf[1] != 0 {
				continue
			}
			src, _ := netip.AddrFromSlice(ip.IP.To4())
			if src != dst || binary.BigEndian.Uint16(buf[4:6]) != id {
				continue
			}
			select {
			case replies <- binary.BigEndian.Uint16(buf[6:8]):
			default:
			}
		}
	}()

	seen := make(map[uint16]bool)
	to := &net.IPAddr{IP: dst.AsSlice()}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for seq := range count {
		if _, err := pc.WriteTo(echoRequest(id, uint16(seq)), to); err != nil {
			return len(seen), fmt.Errorf("ping %s from %s: %w", dst, l.NS(role), err)
		}
		if seq == count-1 {
			break
		}
		if !collect(ctx, tick.C, replies, seen, count) {
			return len(seen), ctx.Err()
		}
	}
	last := time.NewTimer(time.Second)
	defer last.Stop()
	collect(ctx, last.C, replies, seen, count)
	return len(seen), nil
}

// collect takes replies until stop fires or all count replies are in;
// false when ctx ended first.
func collect(ctx context.Context, stop <-chan time.Time, replies <-chan uint16, seen map[uint16]bool, count int) bool {
	for {
		select {
		case <-ctx.Done():
			return false
		case <-stop:
			return true
		case seq := <-replies:
			seen[seq] = true
			if len(seen) == count {
				return true
			}
		}
	}
}

// echoRequest builds an ICMP echo request (RFC 792) with a 32-byte payload.
func echoRequest(id, seq uint16) []byte {
	b := make([]byte, 8+32)
	b[0] = 8 // echo request
	binary.BigEndian.PutUint16(b[4:6], id)
	binary.BigEndian.PutUint16(b[6:8], seq)
	for i := 8; i < len(b); i++ {
		b[i] = byte(i)
	}
	var sum uint32
	for i := 0; i < len(b); i += 2 {
		sum += uint32(b[i])<<8 | uint32(b[i+1])
	}
	for sum > 0xffff {
		sum = sum&0xffff + sum>>16
	}
	binary.BigEndian.PutUint16(b[2:4], ^uint16(sum))
	return b
}
