// Package postfix holds integration tests of the SMTP inspection with real
// components: Postfix (the Debian package) as the mail server 10.10.10.2
// in the lab's mail namespace, swaks and Python's smtplib as outside
// clients in the client namespace talking to 172.22.1.110, and the real
// cbacd binary on AF_XDP in the firewall namespace between them, loaded
// with the seed configuration (examples/seed-3640.toml) unchanged.
//
// The tests need root (namespaces, AF_XDP) and skip without it; they fail,
// not skip, when postfix, swaks or python3 are missing: .ci/run installs
// them. Postfix is never a host service here: each run starts a private
// instance (own main.cf, master.cf, queue, data and mailbox directories
// under a temporary directory) inside the mail namespace and stops it.
//
// The package has no non-test code; this file only documents it.
package postfix
