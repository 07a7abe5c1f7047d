package config

import (
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"
)

// badBase is a valid configuration; each bad case appends to it (or puts
// text before it) and marks the offending line with "# ERR".
const badBase = `hostname = "r1"

[inspect.rules.IN-OUT]
tcp = {}

[[interface]]
name = "Ethernet2/0"
device = "out0"
address = "172.22.1.16/24"
nat = "outside"

[[interface]]
name = "Ethernet2/1"
device = "in0"
address = "10.10.10.1/24"
nat = "inside"
inspect_in = "IN-OUT"

[[nat.static]]
inside_local = "10.10.10.2"
inside_global = "172.22.1.110"
`

var badCases = []struct {
	name string
	pre  string // before badBase: top-level keys
	text string // after badBase
	kind error
	key  string
	why  string
}{
	{name: "unknown top-level key", pre: "colour = \"red\" # ERR\n", kind: ErrUnknownKey, key: "colour", why: `unknown key "colour"`},
	{name: "unknown interface key",
		text: "[[interface]]\nname = \"e3\"\ndevice = \"d3\"\naddress = \"192.0.2.1/24\"\nmtu = 1500 # ERR\n",
		kind: ErrUnknownKey, key: "interface[2].mtu", why: `unknown key "mtu"`},
	{name: "key in upper case", text: "[inspect]\nAlert = false # ERR\n", kind: ErrUnknownKey, key: "inspect.Alert", why: `unknown key "Alert" (keys are lower case)`},
	{name: "protocol in upper case", text: "[inspect.rules.X]\nTCP = {} # ERR\n", kind: ErrUnknownKey, key: "inspect.rules.X.TCP", why: `unknown key "TCP"`},
	{name: "unknown table", text: "[firewall] # ERR\nmode = 1\n", kind: ErrUnknownKey, key: "firewall", why: `unknown key "firewall"`},
	{name: "unknown inspection protocol", text: "[inspect.rules.X]\ntcp = {}\ntelnet = {} # ERR\n",
		kind: ErrUnknownKey, key: "inspect.rules.X.telnet", why: `unknown key "telnet"`},
	{name: "max_data under tcp", text: "[inspect.rules.X]\ntcp = { max_data = 5 } # ERR\n",
		kind: ErrUnknownKey, key: "inspect.rules.X.tcp.max_data", why: `unknown key "max_data"`},
	{name: "java_list under tcp", text: "[inspect.rules.X]\ntcp = { java_list = \"5\" } # ERR\n",
		kind: ErrUnknownKey, key: "inspect.rules.X.tcp.java_list", why: `unknown key "java_list"`},
	{name: "java_list undefined", text: "[inspect.rules.X]\nhttp = { java_list = \"5\" } # ERR\n",
		kind: ErrUndefined, key: "inspect.rules.X.http.java_list", why: `java_list "5" is not defined in [access_lists]`},
	{name: "java_list empty", text: "[inspect.rules.X]\nhttp = { java_list = \"\" } # ERR\n",
		kind: ErrValue, key: "inspect.rules.X.http.java_list", why: "java_list is empty"},
	{name: "java_list extended", text: "[inspect.rules.X]\nhttp = { java_list = \"101\" } # ERR\n[access_lists]\n101 = [\"permit tcp any host 172.22.1.110 eq smtp\"]\n",
		kind: ErrValue, key: "inspect.rules.X.http.java_list", why: `java_list "101" is not a standard access list`},
	{name: "smtp and esmtp", text: "[inspect.rules.MAIL]\nsmtp = {}\nesmtp = {} # ERR\n",
		kind: ErrSMTPAndESMTP, key: "inspect.rules.MAIL.esmtp", why: "both smtp and esmtp: IOS refuses both at once"},
	{name: "one-minute low above high", text: "[inspect]\none_minute = { low = 600, high = 500 } # ERR\n",
		kind: ErrThreshold, key: "inspect.one_minute", why: "low threshold 600 is above high threshold 500"},
	{name: "max-incomplete low above high", text: "[inspect]\nmax_incomplete = { low = 501, high = 500 } # ERR\n",
		kind: ErrThreshold, key: "inspect.max_incomplete", why: "low threshold 501 is above high threshold 500"},
	{name: "zero threshold", text: "[inspect]\nmax_incomplete = { low = 0 } # ERR\n",
		kind: ErrValue, key: "inspect.max_incomplete", why: "must be at least 1"},
	{name: "zero synwait", text: "[inspect]\ntcp_synwait_time = \"0s\" # ERR\n",
		kind: ErrTimer, key: "inspect.tcp_synwait_time", why: "tcp_synwait_time is 0s: must be positive"},
	{name: "negative udp idle", text: "[inspect]\nudp_idle_time = -5 # ERR\n",
		kind: ErrTimer, key: "inspect.udp_idle_time", why: "udp_idle_time is -5s: must be positive"},
	{name: "negative block time", text: "[inspect]\ntcp_block_time = \"-1m\" # ERR\n",
		kind: ErrTimer, key: "inspect.tcp_block_time", why: "must be zero or a positive whole number of minutes"},
	{name: "sub-second timer", text: "[inspect]\ndns_timeout = \"1500ms\" # ERR\n",
		kind: ErrTimer, key: "inspect.dns_timeout", why: "whole number of seconds"},
	{name: "zero protocol timeout", text: "[inspect.rules.X]\nudp = { timeout = 0 } # ERR\n",
		kind: ErrTimer, key: "inspect.rules.X.udp.timeout", why: "timeout is 0s: must be positive"},
	{name: "bad duration", text: "[inspect]\ntcp_idle_time = \"forever\" # ERR\n",
		kind: ErrTimer, key: "inspect.tcp_idle_time", why: `invalid duration "forever"`},
	{name: "zero reassembly timeout", text: "[reassembly]\ntimeout = \"0s\" # ERR\n",
		kind: ErrTimer, key: "reassembly.timeout", why: "must be positive"},
	{name: "max incomplete host out of range", text: "[inspect]\ntcp_max_incomplete_host = 0 # ERR\n",
		kind: ErrValue, key: "inspect.tcp_max_incomplete_host", why: "IOS accepts 1-250"},
	{name: "undefined access list",
		text: "[[interface]]\nname = \"e3\"\ndevice = \"d3\"\naddress = \"192.0.2.1/24\"\naccess_group_in = \"102\" # ERR\n",
		kind: ErrUndefined, key: "interface[2].access_group_in", why: `access list "102" is not defined`},
	{name: "undefined inspection rule",
		text: "[[interface]]\nname = \"e3\"\ndevice = \"d3\"\naddress = \"192.0.2.1/24\"\ninspect_out = \"NOPE\" # ERR\n",
		kind: ErrUndefined, key: "interface[2].inspect_out", why: `inspection rule "NOPE" is not defined`},
	{name: "undefined route interface",
		text: "[[route]]\nprefix = \"0.0.0.0/0\"\ninterface = \"Serial0\" # ERR\n",
		kind: ErrUndefined, key: "route[0].interface", why: `interface "Serial0" is not defined`},
	{name: "undefined arp interface",
		text: "[[arp]]\naddress = \"10.10.10.9\"\nmac = \"02:00:00:00:00:09\"\ninterface = \"e9\" # ERR\n",
		kind: ErrUndefined, key: "arp[0].interface", why: `interface "e9" is not defined`},
	{name: "two inside locals to one inside global",
		text: "[[nat.static]]\ninside_local = \"10.10.10.5\"\ninside_global = \"172.22.1.110\" # ERR\n",
		kind: ErrNATConflict, key: "nat.static[1].inside_global", why: "inside global 172.22.1.110 is already mapped from 10.10.10.2"},
	{name: "one inside local to two inside globals",
		text: "[[nat.static]]\ninside_local = \"10.10.10.2\" # ERR\ninside_global = \"172.22.1.111\"\n",
		kind: ErrNATConflict, key: "nat.static[1].inside_local", why: "inside local 10.10.10.2 is already mapped to 172.22.1.110"},
	{name: "inside global is an interface address",
		text: "[[nat.static]]\ninside_local = \"10.10.10.7\"\ninside_global = \"172.22.1.16\" # ERR\n",
		kind: ErrNATConflict, key: "nat.static[1].inside_global", why: "is the address of interface Ethernet2/0"},
	{name: "malformed acl entry",
		text: "[access_lists]\n101 = [\n  \"permit tcp any host 172.22.1.110 eq smtp\",\n  \"permit tcp any hots 172.22.1.111\", # ERR\n]\n",
		kind: ErrACL, key: "access_lists.101[1]", why: `access list 101 entry 2 "permit tcp any hots 172.22.1.111": word 4 "hots": expected any, host or an address`},
	{name: "acl is not a list", text: "[access_lists]\n101 = \"permit ip any any\" # ERR\n",
		kind: ErrValue, key: "access_lists.101", why: "incompatible types"},
	{name: "bad interface cidr",
		text: "[[interface]]\nname = \"e3\"\ndevice = \"d3\"\naddress = \"192.0.2.1/33\" # ERR\n",
		kind: ErrValue, key: "interface[2].address", why: `bad interface address "192.0.2.1/33"`},
	{name: "ipv6 interface address",
		text: "[[interface]]\nname = \"e3\"\ndevice = \"d3\"\naddress = \"2001:db8::1/64\" # ERR\n",
		kind: ErrValue, key: "interface[2].address", why: `bad interface address "2001:db8::1/64"`},
	{name: "missing interface address",
		text: "[[interface]] # ERR\nname = \"e3\"\ndevice = \"d3\"\n",
		kind: ErrValue, key: "interface[2].address", why: "address is required"},
	{name: "overlapping interface addresses",
		text: "[[interface]]\nname = \"e3\"\ndevice = \"d3\"\naddress = \"10.10.10.2/24\" # ERR\n",
		kind: ErrValue, key: "interface[2].address", why: "overlaps with Ethernet2/1"},
	{name: "bad next hop", text: "[[route]]\nprefix = \"0.0.0.0/0\"\nnext_hop = \"172.22.1.300\" # ERR\n",
		kind: ErrValue, key: "route[0].next_hop", why: `bad IPv4 address "172.22.1.300"`},
	{name: "route prefix with host bits", text: "[[route]]\nprefix = \"10.0.0.1/8\" # ERR\nnext_hop = \"10.10.10.3\"\n",
		kind: ErrValue, key: "route[0].prefix", why: "has host bits set"},
	{name: "route without next hop or interface", text: "[[route]] # ERR\nprefix = \"10.0.0.0/8\"\n",
		kind: ErrValue, key: "route[0]", why: "needs next_hop or interface"},
	{name: "bad nat address", text: "[[nat.static]]\ninside_local = \"10.10.10\" # ERR\ninside_global = \"172.22.1.112\"\n",
		kind: ErrValue, key: "nat.static[1].inside_local", why: `bad IPv4 address "10.10.10"`},
	{name: "bad interface mac",
		text: "[[interface]]\nname = \"e3\"\ndevice = \"d3\"\naddress = \"192.0.2.1/24\"\nmac = \"aa:bb:cc\" # ERR\n",
		kind: ErrValue, key: "interface[2].mac", why: `bad MAC address "aa:bb:cc"`},
	{name: "multicast mac",
		text: "[[interface]]\nname = \"e3\"\ndevice = \"d3\"\naddress = \"192.0.2.1/24\"\nmac = \"01:00:5e:00:00:01\" # ERR\n",
		kind: ErrValue, key: "interface[2].mac", why: "not a unicast Ethernet address"},
	{name: "bad arp mac", text: "[[arp]]\naddress = \"10.10.10.9\"\nmac = \"zz:00:00:00:00:09\" # ERR\n",
		kind: ErrValue, key: "arp[0].mac", why: `bad MAC address "zz:00:00:00:00:09"`},
	{name: "arp off every network", text: "[[arp]]\naddress = \"192.0.2.9\" # ERR\nmac = \"02:00:00:00:00:09\"\n",
		kind: ErrValue, key: "arp[0].address", why: "is on no interface's network"},
	{name: "duplicate arp", text: "[[arp]]\naddress = \"10.10.10.9\"\nmac = \"02:00:00:00:00:09\"\n[[arp]]\naddress = \"10.10.10.9\" # ERR\nmac = \"02:00:00:00:00:08\"\n",
		kind: ErrDuplicate, key: "arp[1].address", why: "already given by arp[0]"},
	{name: "duplicate interface name",
		text: "[[interface]]\nname = \"Ethernet2/0\" # ERR\ndevice = \"d3\"\naddress = \"192.0.2.1/24\"\n",
		kind: ErrDuplicate, key: "interface[2].name", why: "interface name Ethernet2/0 is already used by interface[0]"},
	{name: "duplicate device",
		text: "[[interface]]\nname = \"e3\"\ndevice = \"in0\" # ERR\naddress = \"192.0.2.1/24\"\n",
		kind: ErrDuplicate, key: "interface[2].device", why: "device in0 is already used by interface[1]"},
	{name: "bad nat role",
		text: "[[interface]]\nname = \"e3\"\ndevice = \"d3\"\naddress = \"192.0.2.1/24\"\nnat = \"both\" # ERR\n",
		kind: ErrValue, key: "interface[2].nat", why: `bad nat role "both"`},
	{name: "rule without protocols", text: "[inspect.rules.EMPTY] # ERR\n",
		kind: ErrValue, key: "inspect.rules.EMPTY", why: "names no protocol"},
	{name: "bad allow verb", text: "[inspect.rules.MAIL]\nesmtp = { allow = [\"STARTTLS\", \"START TLS\"] } # ERR\n",
		kind: ErrValue, key: "inspect.rules.MAIL.esmtp.allow[1]", why: `allow "START TLS"`},
	{name: "zero max_data", text: "[inspect.rules.MAIL]\nsmtp = { max_data = 0 } # ERR\n",
		kind: ErrValue, key: "inspect.rules.MAIL.smtp.max_data", why: "max_data 0: must be positive"},
	{name: "ring size not a power of two", text: "[dataplane]\nring_size = 1000 # ERR\n",
		kind: ErrValue, key: "dataplane.ring_size", why: "must be a power of two"},
	{name: "max sessions beyond the table", text: "[dataplane]\nmax_sessions = 20000000 # ERR\n",
		kind: ErrValue, key: "dataplane.max_sessions", why: "must be from 1 to 16777215"},
	{name: "too many fragments per datagram", text: "[reassembly]\nmax_fragments = 100 # ERR\n",
		kind: ErrValue, key: "reassembly.max_fragments", why: "must be from 1 to 64"},
	{name: "negative inspected sessions", text: "[dataplane]\ninspected_sessions = -1 # ERR\n",
		kind: ErrValue, key: "dataplane.inspected_sessions", why: "inspected_sessions is -1: must be at least 0"},
	{name: "negative workers", text: "[dataplane]\nworkers = -1 # ERR\n",
		kind: ErrValue, key: "dataplane.workers", why: "workers is -1: must be at least 0"},
	{name: "bad syslog", text: "[logging]\nsyslog = \"127.0.0.1:514\" # ERR\n",
		kind: ErrValue, key: "logging.syslog", why: "want \"udp://host:port\""},
	{name: "metrics listen without port", text: "[metrics]\nlisten = \"127.0.0.1\" # ERR\n",
		kind: ErrValue, key: "metrics.listen", why: "want HOST:PORT"},
	{name: "metrics listen without host", text: "[metrics]\nlisten = \":19643\" # ERR\n",
		kind: ErrValue, key: "metrics.listen", why: "name the address to listen on"},
	{name: "metrics listen port out of range", text: "[metrics]\nlisten = \"127.0.0.1:70000\" # ERR\n",
		kind: ErrValue, key: "metrics.listen", why: "is not from 1 to 65535"},
	{name: "metrics listen not a string", text: "[metrics]\nlisten = 19643 # ERR\n",
		kind: ErrValue, key: "metrics.listen", why: ""},
	{name: "unknown metrics key", text: "[metrics]\npath = \"/m\" # ERR\n",
		kind: ErrUnknownKey, key: "metrics.path", why: `unknown key "path"`},
	{name: "type mismatch", text: "[inspect]\ntcp_max_incomplete_host = \"fifty\" # ERR\n",
		kind: ErrValue, key: "inspect.tcp_max_incomplete_host", why: "incompatible types"},
	{name: "intercept without list", text: "[access_lists]\n120 = [\"permit tcp any host 172.22.1.110 eq smtp\"]\n[tcp_intercept] # ERR\nmode = \"intercept\"\n",
		kind: ErrValue, key: "tcp_intercept.list", why: "list is required"},
	{name: "intercept list undefined", text: "[access_lists]\n120 = [\"permit tcp any host 172.22.1.110 eq smtp\"]\n[tcp_intercept]\nlist = \"121\" # ERR\n",
		kind: ErrUndefined, key: "tcp_intercept.list", why: `access list "121" is not defined`},
	{name: "intercept bad mode", text: "[access_lists]\n120 = [\"permit tcp any host 172.22.1.110 eq smtp\"]\n[tcp_intercept]\nlist = \"120\"\nmode = \"guard\" # ERR\n",
		kind: ErrValue, key: "tcp_intercept.mode", why: `bad mode "guard"`},
	{name: "intercept max_incomplete low above high", text: "[access_lists]\n120 = [\"permit tcp any host 172.22.1.110 eq smtp\"]\n[tcp_intercept]\nlist = \"120\"\nmax_incomplete = { low = 1200, high = 1100 } # ERR\n",
		kind: ErrThreshold, key: "tcp_intercept.max_incomplete", why: "low threshold 1200 is above high threshold 1100"},
	{name: "intercept one_minute zero", text: "[access_lists]\n120 = [\"permit tcp any host 172.22.1.110 eq smtp\"]\n[tcp_intercept]\nlist = \"120\"\none_minute = { low = 0 } # ERR\n",
		kind: ErrValue, key: "tcp_intercept.one_minute", why: "must be at least 1"},
	{name: "intercept bad drop_mode", text: "[access_lists]\n120 = [\"permit tcp any host 172.22.1.110 eq smtp\"]\n[tcp_intercept]\nlist = \"120\"\ndrop_mode = \"newest\" # ERR\n",
		kind: ErrValue, key: "tcp_intercept.drop_mode", why: `bad drop_mode "newest"`},
	{name: "intercept watch_timeout zero", text: "[access_lists]\n120 = [\"permit tcp any host 172.22.1.110 eq smtp\"]\n[tcp_intercept]\nlist = \"120\"\nwatch_timeout = \"0s\" # ERR\n",
		kind: ErrTimer, key: "tcp_intercept.watch_timeout", why: "watch_timeout is 0s: must be positive"},
	{name: "intercept finrst_timeout fraction", text: "[access_lists]\n120 = [\"permit tcp any host 172.22.1.110 eq smtp\"]\n[tcp_intercept]\nlist = \"120\"\nfinrst_timeout = \"1500ms\" # ERR\n",
		kind: ErrTimer, key: "tcp_intercept.finrst_timeout", why: "must be a whole number of seconds"},
	{name: "intercept connection_timeout bad", text: "[access_lists]\n120 = [\"permit tcp any host 172.22.1.110 eq smtp\"]\n[tcp_intercept]\nlist = \"120\"\nconnection_timeout = \"a day\" # ERR\n",
		kind: ErrTimer, key: "tcp_intercept.connection_timeout", why: "invalid duration"},
	{name: "intercept unknown key", text: "[access_lists]\n120 = [\"permit tcp any host 172.22.1.110 eq smtp\"]\n[tcp_intercept]\nlist = \"120\"\nwatch = 5 # ERR\n",
		kind: ErrUnknownKey, key: "tcp_intercept.watch", why: `unknown key "watch"`},
	{name: "syntax error", text: "[inspect]\nalert = yes # ERR\n",
		kind: ErrSyntax, key: "", why: "expected value but found \"yes\""},
}

func TestRejections(t *testing.T) {
	if _, err := Parse("base.toml", []byte(badBase)); err != nil {
		t.Fatalf("the base of the bad cases must load: %v", err)
	}
	for _, tc := range badCases {
		t.Run(tc.name, func(t *testing.T) {
			src := tc.pre + badBase + tc.text
			line := 0
			for i, l := range strings.Split(src, "\n") {
				if strings.HasSuffix(l, "# ERR") {
					line = i + 1
				}
			}
			if line == 0 {
				t.Fatal("case has no # ERR line")
			}
			c, err := Parse("bad.toml", []byte(src))
			if err == nil {
				t.Fatalf("accepted:\n%s", src)
			}
			if c != nil {
				t.Error("Parse returned a config with its error")
			}
			if !errors.Is(err, tc.kind) {
				t.Errorf("error is not %v: %v", tc.kind, err)
			}
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("error is not an *Error: %v", err)
			}
			prefix := "bad.toml:" + strconv.Itoa(line) + ": "
			if tc.key != "" {
				prefix += tc.key + ": "
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, prefix) {
				t.Errorf("error %q does not start with %q", msg, prefix)
			}
			if !strings.Contains(msg, tc.why) {
				t.Errorf("error %q does not say %q", msg, tc.why)
			}
		})
	}
}

func TestMetricsListen(t *testing.T) {
	c, err := Parse("ok.toml", []byte(badBase))
	if err != nil || c.Metrics.Listen != "" {
		t.Fatalf("metrics must be off by default: %q %v", c.Metrics.Listen, err)
	}
	c, err = Parse("ok.toml", []byte(badBase+"[metrics]\nlisten = \""+SuggestedMetricsListen+"\"\n"))
	if err != nil || c.Metrics.Listen != SuggestedMetricsListen {
		t.Fatalf("metrics listen: %q %v", c.Metrics.Listen, err)
	}
}

func TestBlockTimeZeroAllowed(t *testing.T) {
	c, err := Parse("ok.toml", []byte(badBase+"[inspect]\ntcp_block_time = 0\n"))
	if err != nil || c.Inspect.TCPBlockTime != 0 {
		t.Fatalf("block time 0: %v", err)
	}
}

func TestAllErrorsReported(t *testing.T) {
	src := badBase + "[inspect]\ntcp_synwait_time = 0\none_minute = { low = 9, high = 1 }\n"
	_, err := Parse("two.toml", []byte(src))
	if !errors.Is(err, ErrTimer) || !errors.Is(err, ErrThreshold) {
		t.Fatalf("want both errors: %v", err)
	}
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], "tcp_synwait_time") || !strings.Contains(lines[1], "one_minute") {
		t.Fatalf("errors not one per line in line order: %q", lines)
	}
}

// The brief's [tcp_intercept] loads with every key, and leaving keys out
// gives IOS's defaults; without the table intercept is off.
func TestInterceptLoads(t *testing.T) {
	const acl = "[access_lists]\n120 = [\"permit tcp any host 172.22.1.110 eq smtp\"]\n"
	full := acl + `[tcp_intercept]
list = "120"
mode = "intercept"
max_incomplete = { low = 900, high = 1100 }
one_minute = { low = 800, high = 1000 }
drop_mode = "oldest"
watch_timeout = "30s"
finrst_timeout = "7s"
connection_timeout = "86400s"
`
	c, err := Parse("ok.toml", []byte(badBase+full))
	if err != nil {
		t.Fatal(err)
	}
	want := TCPIntercept{Enabled: true, List: "120", Mode: InterceptModeIntercept,
		MaxIncomplete: Threshold{900, 1100}, OneMinute: Threshold{800, 1000}, DropMode: "oldest",
		WatchTimeout: 30 * time.Second, FinRstTimeout: 7 * time.Second, ConnectionTimeout: 24 * time.Hour}
	if c.TCPIntercept != want {
		t.Errorf("got %+v, want %+v", c.TCPIntercept, want)
	}
	c, err = Parse("ok.toml", []byte(badBase+acl+"[tcp_intercept]\nlist = \"120\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	want.OneMinute, want.FinRstTimeout = Threshold{900, 1100}, 5*time.Second
	if c.TCPIntercept != want {
		t.Errorf("defaults: got %+v, want %+v", c.TCPIntercept, want)
	}
	c, err = Parse("ok.toml", []byte(badBase))
	if err != nil {
		t.Fatal(err)
	}
	if c.TCPIntercept.Enabled {
		t.Error("intercept enabled without [tcp_intercept]")
	}
	// Every mode IOS knows and drop_mode random load.
	for _, m := range []InterceptMode{InterceptModeWatch, InterceptModeAuto} {
		c, err = Parse("ok.toml", []byte(badBase+acl+"[tcp_intercept]\nlist = \"120\"\nmode = \""+string(m)+"\"\ndrop_mode = \"random\"\nwatch_timeout = \"12s\"\n"))
		if err != nil {
			t.Fatalf("mode %s: %v", m, err)
		}
		if ti := c.TCPIntercept; ti.Mode != m || ti.DropMode != "random" || ti.WatchTimeout != 12*time.Second {
			t.Errorf("mode %s: got %+v", m, ti)
		}
	}
}
