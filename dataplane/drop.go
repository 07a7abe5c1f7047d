package dataplane

import "cbac/appinspect"

// Reason is why the dataplane dropped (or did not forward) a frame. Every
// drop on the packet path is counted under exactly one Reason, per worker,
// and shown by `cbacctl show ip inspect statistics` (VPP foreach_acl_fa_error).
type Reason uint8

const (
	DropNone               Reason = iota
	DropRunt                      // frame shorter than an Ethernet header
	DropNotForUs                  // unicast frame for another MAC address
	DropNonIPv4                   // EtherType other than IPv4 and ARP (VLAN, IPv6, ...)
	DropARPInvalid                // malformed or non-Ethernet/IPv4 ARP
	DropARPIgnored                // ARP not for one of our addresses (after learning)
	DropIPInvalid                 // bad version, IHL, total length
	DropIPChecksum                // IPv4 header checksum wrong
	DropTTLExpired                // TTL <= 1 on a packet to be routed
	DropToUs                      // addressed to the router itself and not answered
	DropL4Invalid                 // truncated TCP/UDP/ICMP header
	DropTCPChecksum               // TCP checksum wrong
	DropUDPChecksum               // UDP checksum present (non-zero) and wrong
	DropICMPChecksum              // ICMP checksum wrong
	DropChecksumPartial           // TCP/UDP checksum left unfinished by the sender's offload
	DropFragment                  // fragment not handled (reassembly off or failed)
	DropNoRoute                   // no connected prefix or static route
	DropACLIn                     // denied by the inbound access list
	DropACLOut                    // denied by the outbound access list
	DropNoSession                 // TCP segment that is not a SYN and matches no session
	DropTCPBadFlags               // invalid flag combination
	DropTCPOutOfWindow            // sequence outside the receiver's window
	DropTCPAckUnseen              // acknowledges data never sent
	DropTCPBadRST                 // RST not at the expected sequence (RFC 5961 3.2)
	DropTCPSynEstablished         // SYN on an established session
	DropTCPInvalid                // other TCP state-machine refusals
	DropSessionTableFull          // new session refused: table at its maximum
	DropHostBlocked               // new TCP connection to a blocked host (block-time)
	DropSMTPPoolFull              // new SMTP session refused: inspected sessions at their limit
	DropStreamOutOfOrder          // inspected stream: segment beyond the next expected byte
	DropStreamBufferFull          // inspected stream: replay copy full until the peer ACKs
	DropSMTPMaxData               // max-data exceeded: session reset
	DropARPUnresolved             // next hop did not answer ARP
	DropARPQueueFull              // too many packets waiting for ARP
	DropTxRingFull                // egress TX ring had no room
	DropHandoffFull               // hand-over ring to the owning worker was full
	DropNoFrame                   // no free UMEM frame to build a packet
	DropInterceptBadCookie        // TCP intercept: ACK without session whose cookie fails
	DropInterceptFull             // TCP intercept: splice states at their limit
	DropInterceptWaiting          // TCP intercept: segment while the server has not answered
	DropFTPRefused                // FTP command refused (bounce, privileged port, not logged in, malformed): session reset
	DropFTPSeqUnknown             // FTP control segment before a rewrite no longer remembered
	DropHTTPJavaBlock             // HTTP response carrying a Java applet: session reset (http.go)
	NumReasons
)

var reasonNames = [NumReasons]string{
	DropNone:               "none",
	DropRunt:               "runt frame",
	DropNotForUs:           "not for our MAC",
	DropNonIPv4:            "not IPv4 or ARP",
	DropARPInvalid:         "ARP invalid",
	DropARPIgnored:         "ARP not for us",
	DropIPInvalid:          "IPv4 header invalid",
	DropIPChecksum:         "IPv4 header checksum",
	DropTTLExpired:         "TTL expired",
	DropToUs:               "to router, not answered",
	DropL4Invalid:          "L4 header truncated",
	DropTCPChecksum:        "TCP checksum",
	DropUDPChecksum:        "UDP checksum",
	DropICMPChecksum:       "ICMP checksum",
	DropChecksumPartial:    "checksum partial (sender offload)",
	DropFragment:           "fragment not handled",
	DropNoRoute:            "no route",
	DropACLIn:              "inbound ACL deny",
	DropACLOut:             "outbound ACL deny",
	DropNoSession:          "TCP non-SYN without session",
	DropTCPBadFlags:        "TCP invalid flags",
	DropTCPOutOfWindow:     "TCP out of window",
	DropTCPAckUnseen:       "TCP ACK of unseen data",
	DropTCPBadRST:          "TCP RST not at next sequence",
	DropTCPSynEstablished:  "TCP SYN on established session",
	DropTCPInvalid:         "TCP invalid for state",
	DropSessionTableFull:   "session table full",
	DropHostBlocked:        "host blocked (max-incomplete host)",
	DropSMTPPoolFull:       "inspected sessions at limit",
	DropStreamOutOfOrder:   "inspected stream out of order",
	DropStreamBufferFull:   "inspected stream buffer full",
	DropSMTPMaxData:        "SMTP max-data exceeded",
	DropARPUnresolved:      "ARP unresolved",
	DropARPQueueFull:       "ARP pending queue full",
	DropTxRingFull:         "TX ring full",
	DropHandoffFull:        "worker hand-over ring full",
	DropNoFrame:            "no free frame",
	DropInterceptBadCookie: "TCP intercept: bad cookie",
	DropInterceptFull:      "TCP intercept: connections at limit",
	DropInterceptWaiting:   "TCP intercept: server not answered yet",
	DropFTPRefused:         "FTP command refused: session reset",
	DropFTPSeqUnknown:      "FTP sequence before a forgotten rewrite",
	DropHTTPJavaBlock:      "HTTP Java applet blocked",
}

func (r Reason) String() string {
	if r < NumReasons {
		return reasonNames[r]
	}
	return "unknown"
}

// dropReason is the Reason of an inspector's Drop.
func dropReason(why appinspect.Why) Reason {
	switch why {
	case appinspect.WhyOutOfOrder:
		return DropStreamOutOfOrder
	case appinspect.WhyBufferFull:
		return DropStreamBufferFull
	case appinspect.WhyUnknown:
		return DropFTPSeqUnknown
	}
	return DropTCPInvalid
}
