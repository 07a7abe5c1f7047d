package config

import (
	"bufio"
	"io"
	"strconv"
	"strings"
	"time"
)

// ShowInspectConfig writes IOS "show ip inspect config": the global
// settings and the inspection rules in configuration order (the first part
// of ShowInspectAll).
func (c *Config) ShowInspectConfig(w io.Writer) error {
	bw := bufio.NewWriter(w)
	c.writeConfig(bw)
	return bw.Flush()
}

// ShowInspectAll writes IOS "show ip inspect all" for the configuration:
// the global settings, the inspection rules in configuration order, and
// the interfaces that have an inspection rule applied. For the seed
// configuration the text is exactly the seed's (testdata golden file).
func (c *Config) ShowInspectAll(w io.Writer) error {
	bw := bufio.NewWriter(w)
	c.writeConfig(bw)
	c.writeInterfaces(bw)
	return bw.Flush()
}

func (c *Config) writeConfig(bw *bufio.Writer) {
	in := &c.Inspect
	bw.WriteString("Session audit trail is " + enabled(in.AuditTrail) + "\n")
	bw.WriteString("Session alert is " + enabled(in.Alert) + "\n")
	bw.WriteString("one-minute (sampling period) thresholds are [" + itoa(in.OneMinute.Low) + ":" + itoa(in.OneMinute.High) + "] connections\n")
	bw.WriteString("max-incomplete sessions thresholds are [" + itoa(in.MaxIncomplete.Low) + ":" + itoa(in.MaxIncomplete.High) + "]\n")
	// IOS prints "minute" whatever the number ("Block-time 0 minute.").
	bw.WriteString("max-incomplete tcp connections per host is " + itoa(in.TCPMaxIncompleteHost) +
		". Block-time " + strconv.FormatInt(int64(in.TCPBlockTime/time.Minute), 10) + " minute.\n")
	bw.WriteString("tcp synwait-time is " + secs(in.TCPSynWait) + " sec -- tcp finwait-time is " + secs(in.TCPFinWait) + " sec\n")
	bw.WriteString("tcp idle-time is " + secs(in.TCPIdle) + " sec -- udp idle-time is " + secs(in.UDPIdle) + " sec\n")
	bw.WriteString("dns-timeout is " + secs(in.DNSTimeout) + " sec\n")

	if len(in.Rules) > 0 {
		bw.WriteString("Inspection Rule Configuration\n")
		for i := range in.Rules {
			r := &in.Rules[i]
			bw.WriteString("  Inspection name " + r.Name + "\n")
			writeProtocols(bw, "    ", r)
		}
	}
}

func (c *Config) writeInterfaces(bw *bufio.Writer) {
	// IOS lists interfaces most recently configured first: its interface
	// list is built by prepending, so the seed shows Ethernet2/1 (configured
	// second) before Ethernet2/0. Document order stands for configuration
	// order here. Only interfaces with an inspection rule applied appear.
	header := false
	for i := len(c.Interfaces) - 1; i >= 0; i-- {
		ifc := &c.Interfaces[i]
		if ifc.InspectIn == "" && ifc.InspectOut == "" {
			continue
		}
		if !header {
			bw.WriteString("Interface Configuration\n")
			header = true
		}
		bw.WriteString("  Interface " + ifc.Name + "\n")
		c.writeApplied(bw, "Inbound inspection rule is ", ifc.InspectIn)
		c.writeApplied(bw, "Outgoing inspection rule is ", ifc.InspectOut)
		bw.WriteString("    Inbound access list is " + orNotSet(ifc.AccessGroupIn) + "\n")
		bw.WriteString("    Outgoing access list is " + orNotSet(ifc.AccessGroupOut) + "\n")
	}
}

func (c *Config) writeApplied(bw *bufio.Writer, label, rule string) {
	bw.WriteString("    " + label + orNotSet(rule) + "\n")
	if r, ok := c.Rule(rule); ok {
		writeProtocols(bw, "      ", r)
	}
}

// writeProtocols writes one line per protocol of r:
//
//	tcp alert is on audit-trail is off timeout 3600
//	smtp max-data 20000000 alert is on audit-trail is off timeout 3600
//	http java-list 10 alert is on audit-trail is off timeout 3600
//
// An allow list (a cbac extension) is shown after max-data.
func writeProtocols(bw *bufio.Writer, indent string, r *Rule) {
	for i := range r.Protocols {
		pr := &r.Protocols[i]
		bw.WriteString(indent + string(pr.Protocol))
		if pr.JavaList != "" {
			bw.WriteString(" java-list " + pr.JavaList)
		}
		if pr.Protocol.IsSMTP() {
			bw.WriteString(" max-data " + strconv.FormatUint(pr.MaxData, 10))
			if len(pr.Allow) > 0 {
				bw.WriteString(" allow " + strings.Join(pr.Allow, " "))
			}
		}
		bw.WriteString(" alert is " + onOff(pr.Alert) + " audit-trail is " + onOff(pr.AuditTrail) +
			" timeout " + secs(pr.Timeout) + "\n")
	}
}

func enabled(b bool) string {
	if b {
		return "enabled"
	}
	return "disabled"
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

func orNotSet(s string) string {
	if s == "" {
		return "not set"
	}
	return s
}

func itoa(n int) string { return strconv.Itoa(n) }

func secs(d time.Duration) string { return strconv.FormatInt(int64(d/time.Second), 10) }
