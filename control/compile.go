// Package control is cbacd's control plane: it compiles a Config into the
// dataplane's Ruleset, serves the control socket that cbacctl talks to,
// renders the IOS show commands and turns worker events into IOS log
// messages.
package control

import (
	"fmt"
	"hash/fnv"
	"net/netip"
	"strings"

	"cbac/config"
	"cbac/dataplane"
	"cbac/inspect"
	"cbac/nat"
	"cbac/packet"
	"cbac/smtpfsm"
)

// MACSource tells the MAC address of a device that the configuration gives
// none for (the real device's address when cbacd binds it).
type MACSource func(device string) (packet.MAC, bool)

// DerivedMAC is the MAC used for a device that has no configured or real
// address (replay, tests): locally administered, stable per device name.
func DerivedMAC(device string) packet.MAC {
	h := fnv.New32a()
	h.Write([]byte(device))
	v := h.Sum32()
	return packet.MAC{0x02, 0xcb, byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}
}

func ip4(a netip.Addr) uint32 {
	b := a.As4()
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

// Compile turns a validated configuration into a compiled Ruleset.
func Compile(c *config.Config, macs MACSource) (*dataplane.Ruleset, error) {
	rs := &dataplane.Ruleset{
		Hostname:          c.Hostname,
		MaxSessions:       c.Dataplane.MaxSessions,
		StreamBuffer:      c.Dataplane.InspectedBuffer,
		InspectedSessions: c.Dataplane.InspectedSessions,
		AlertRate:         c.Logging.AlertRate,
		Reassembly: dataplane.Reassembly{
			MaxDatagrams: c.Reassembly.MaxDatagrams, MaxFragments: c.Reassembly.MaxFragments,
			Timeout: c.Reassembly.Timeout,
		},
		Timers: dataplane.Timers{
			SynWait: c.Inspect.TCPSynWait, FinWait: c.Inspect.TCPFinWait,
			TCPIdle: c.Inspect.TCPIdle, UDPIdle: c.Inspect.UDPIdle,
			ICMP: config.DefaultICMPTimeout, DNS: c.Inspect.DNSTimeout,
		},
		Thresholds: inspect.Thresholds{
			MaxIncompleteLow: c.Inspect.MaxIncomplete.Low, MaxIncompleteHigh: c.Inspect.MaxIncomplete.High,
			OneMinuteLow: c.Inspect.OneMinute.Low, OneMinuteHigh: c.Inspect.OneMinute.High,
			HostMax: c.Inspect.TCPMaxIncompleteHost, BlockTime: int64(c.Inspect.TCPBlockTime),
		},
	}
	aclIndex := map[string]int{}
	for i := range c.AccessLists {
		aclIndex[c.AccessLists[i].Name] = len(rs.ACLs)
		rs.ACLs = append(rs.ACLs, c.AccessLists[i].Compile())
	}
	if ti := &c.TCPIntercept; ti.Enabled {
		list, ok := aclIndex[ti.List]
		if !ok {
			return nil, fmt.Errorf("compile tcp intercept: access list %q is not defined", ti.List)
		}
		mode := dataplane.InterceptCookies
		switch ti.Mode {
		case config.InterceptModeWatch:
			mode = dataplane.InterceptWatch
		case config.InterceptModeAuto:
			mode = dataplane.InterceptAuto
		}
		rs.Intercept = &dataplane.Intercept{List: list, Mode: mode, DropRandom: ti.DropMode == "random", Watch: ti.WatchTimeout,
			FinRst: ti.FinRstTimeout, Connection: ti.ConnectionTimeout,
			MaxIncomplete: dataplane.InterceptThreshold{Low: ti.MaxIncomplete.Low, High: ti.MaxIncomplete.High},
			OneMinute:     dataplane.InterceptThreshold{Low: ti.OneMinute.Low, High: ti.OneMinute.High}}
	}
	rules := map[string]*dataplane.Rule{}
	for _, r := range c.Inspect.Rules {
		dr := &dataplane.Rule{Name: r.Name}
		for _, p := range r.Protocols {
			pp := dataplane.ProtoPolicy{Alert: p.Alert, Audit: p.AuditTrail, Timeout: p.Timeout}
			switch p.Protocol {
			case config.ProtoTCP:
				pp.Kind = dataplane.InspectTCP
			case config.ProtoUDP:
				pp.Kind = dataplane.InspectUDP
			case config.ProtoICMP:
				pp.Kind = dataplane.InspectICMP
			case config.ProtoFTP:
				pp.Kind = dataplane.InspectFTP
			case config.ProtoHTTP:
				pp.Kind = dataplane.InspectHTTP
				if p.JavaList != "" {
					i, ok := aclIndex[p.JavaList]
					if !ok {
						return nil, fmt.Errorf("compile rule %s: http java-list %s: no such access list", r.Name, p.JavaList)
					}
					pp.JavaList = i + 1
				}
			case config.ProtoSMTP, config.ProtoESMTP:
				pp.Kind = dataplane.InspectSMTP
				if p.Protocol == config.ProtoESMTP {
					pp.Kind = dataplane.InspectESMTP
				}
				pp.SMTP.MaxData = p.MaxData
				for _, v := range p.Allow {
					vs, ok := smtpfsm.ParseVerb(v)
					if !ok {
						return nil, fmt.Errorf("compile rule %s: %s allow: unknown verb %q", r.Name, p.Protocol, v)
					}
					pp.SMTP.Allow |= vs
				}
			default:
				return nil, fmt.Errorf("compile rule %s: unknown protocol %q", r.Name, p.Protocol)
			}
			dr.Policies = append(dr.Policies, pp)
		}
		rules[r.Name] = dr
		rs.Rules = append(rs.Rules, dr)
	}
	for _, f := range c.Interfaces {
		di := dataplane.Iface{
			Name: f.Name, Device: f.Device, Addr: ip4(f.Address.Addr()), PrefixLen: uint8(f.Address.Bits()),
			ACLIn: -1, ACLOut: -1, VirtualReassembly: f.VirtualReassembly,
		}
		switch f.NAT {
		case config.NATInside:
			di.NAT = dataplane.NATInside
		case config.NATOutside:
			di.NAT = dataplane.NATOutside
		}
		switch {
		case len(f.MAC) == 6:
			copy(di.MAC[:], f.MAC)
		default:
			m, ok := packet.MAC{}, false
			if macs != nil {
				m, ok = macs(f.Device)
			}
			if !ok {
				m = DerivedMAC(f.Device)
			}
			di.MAC = m
		}
		if f.AccessGroupIn != "" {
			di.ACLIn = aclIndex[f.AccessGroupIn]
		}
		if f.AccessGroupOut != "" {
			di.ACLOut = aclIndex[f.AccessGroupOut]
		}
		di.InspectIn = rules[f.InspectIn]
		di.InspectOut = rules[f.InspectOut]
		rs.Ifaces = append(rs.Ifaces, di)
	}
	portOf := func(name string) int {
		for i := range c.Interfaces {
			if c.Interfaces[i].Name == name || c.Interfaces[i].Device == name {
				return i
			}
		}
		return -1
	}
	for _, r := range c.Routes {
		dr := dataplane.Route{Prefix: ip4(r.Prefix.Addr()), PrefixLen: uint8(r.Prefix.Bits()), Port: -1}
		if r.NextHop.IsValid() {
			dr.NextHop = ip4(r.NextHop)
		}
		if r.Interface != "" {
			dr.Port = portOf(r.Interface)
		}
		rs.Routes = append(rs.Routes, dr)
	}
	var pairs []nat.Static
	for _, s := range c.StaticNAT {
		pairs = append(pairs, nat.Static{InsideLocal: ip4(s.InsideLocal), InsideGlobal: ip4(s.InsideGlobal)})
	}
	t, err := nat.NewTable(pairs)
	if err != nil {
		return nil, fmt.Errorf("compile nat: %w", err)
	}
	rs.NAT = t
	for _, a := range c.ARP {
		var m packet.MAC
		copy(m[:], a.MAC)
		n := dataplane.StaticNeighbor{Addr: ip4(a.Address), MAC: m, Port: -1}
		if a.Interface != "" {
			n.Port = portOf(a.Interface)
		}
		rs.StaticARP = append(rs.StaticARP, n)
	}
	if err := rs.Compile(); err != nil {
		return nil, fmt.Errorf("compile %s: %w", c.File, err)
	}
	return rs, nil
}

// ifaceName returns the IOS name of a port.
func ifaceName(rs *dataplane.Ruleset, port int) string {
	if port >= 0 && port < len(rs.Ifaces) {
		return rs.Ifaces[port].Name
	}
	return "?"
}

var _ = strings.TrimSpace
