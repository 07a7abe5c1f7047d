module cbac

go 1.26.8

require (
	github.com/BurntSushi/toml v1.6.0
	github.com/asavie/xdp v0.3.3
	github.com/cilium/ebpf v0.4.0
	github.com/google/gopacket v1.1.19
	github.com/vishvananda/netlink v1.1.0
	golang.org/x/sys v0.49.0
)

require (
	github.com/vishvananda/netns v0.0.0-20191106174202-0a2b9b5464df // indirect
	golang.org/x/net v0.0.0-20190923162816-aa69164e4478 // indirect
)
