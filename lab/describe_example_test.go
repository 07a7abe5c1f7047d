package lab_test

import (
	"os"

	"cbac/lab"
)

// Describe is what `cbacd lab` prints for the user.
func ExampleLab_Describe() {
	lab.New("cbac-").Describe(os.Stdout)
	// Output:
	// cbac lab "cbac-": the seed network in network namespaces
	//   cbac-fw          out0 (02:00:ac:16:01:10) and in0 (02:00:0a:0a:0a:01), no addresses: cbacd owns them
	//   cbac-upstream    eth0 172.22.1.1/24 (02:00:ac:16:01:01), lo 203.0.113.1 (web server on port 80 when cbacd lab runs; FTP server on 172.22.1.1:21 too, with python3-pyftpdlib): upstream router, the seed's default route next hop
	//   cbac-client      eth0 172.22.1.100/24 (02:00:ac:16:01:64): outside client
	//   cbac-mail        eth0 10.10.10.2/24 (02:00:0a:0a:0a:02) via 10.10.10.1: mail server, outside as 172.22.1.110
	//   cbac-host        eth0 10.10.10.5/24 (02:00:0a:0a:0a:05) via 10.10.10.1: inside host, outside as 172.22.1.111
	//   cbac-osw         bridge br0: port fw (to out0), upstream, client
	//   cbac-isw         bridge br0: port fw (to in0), mail, host
	// Try:
	//   # send a mail through the firewall (SMTP inspection, static NAT)
	//   ip netns exec cbac-client swaks --server 172.22.1.110 --from a@outside.example --to postmaster@lab.example
	//   # the inside host fetches a page from the outside (inspected by IN-OUT, NATed to 172.22.1.111)
	//   ip netns exec cbac-host curl http://203.0.113.1/
	//   # the inside host fetches a file by active FTP (IN-OUT inspects ftp: PORT translated, the data connection let in)
	//   ip netns exec cbac-host curl --ftp-port - ftp://172.22.1.1/cbac-lab.txt
	//   # the inside host pings the outside by the default route
	//   ip netns exec cbac-host ping -c 3 203.0.113.1
	//   # blocked by access-list 101 (curl gives up after 3 seconds)
	//   ip netns exec cbac-client curl -m 3 http://172.22.1.110/
	//   # watch the outside wire
	//   ip netns exec cbac-osw tshark -ni fw
	//   # a shell on a host
	//   ip netns exec cbac-client bash
}
