package xsk

// Device helpers: interface index, RX queue count, TX checksum offload.
// All act in the calling thread's network namespace (they use an ioctl on
// a socket made on that thread), so they work inside netns.InNetns, where
// /sys/class/net would still show the namespace sysfs was mounted from.

import (
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"
)

// ifreqData is struct ifreq with the ifr_data member of the union, as the
// SIOCETHTOOL ioctl takes it.
type ifreqData struct {
	name [unix.IFNAMSIZ]byte
	data unsafe.Pointer
	_    [24 - unsafe.Sizeof(uintptr(0))]byte
}

// ethtoolValue is struct ethtool_value.
type ethtoolValue struct {
	cmd  uint32
	data uint32
}

// ethtoolChannels is struct ethtool_channels.
type ethtoolChannels struct {
	cmd           uint32
	maxRx         uint32
	maxTx         uint32
	maxOther      uint32
	maxCombined   uint32
	rxCount       uint32
	txCount       uint32
	otherCount    uint32
	combinedCount uint32
}

func checkIfname(ifname string) error {
	if ifname == "" || len(ifname) >= unix.IFNAMSIZ || strings.ContainsAny(ifname, "/ \x00") {
		return fmt.Errorf("device %q: invalid name", ifname)
	}
	return nil
}

// ethtool runs one SIOCETHTOOL command whose argument is at data.
func ethtool(ifname string, data unsafe.Pointer) error {
	if err := checkIfname(ifname); err != nil {
		return err
	}
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("device %s: socket: %w", ifname, err)
	}
	defer unix.Close(fd)
	var ifr ifreqData
	copy(ifr.name[:], ifname)
	ifr.data = data
	_, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.SIOCETHTOOL, uintptr(unsafe.Pointer(&ifr)))
	runtime.KeepAlive(data)
	if errno != 0 {
		return errno
	}
	return nil
}

func deviceError(ifname, what string, err error) error {
	if errors.Is(err, unix.ENODEV) {
		return fmt.Errorf("device %s: %w", ifname, ErrNoDevice)
	}
	if errors.Is(err, unix.EPERM) {
		return fmt.Errorf("device %s: %s: %w", ifname, what, ErrNotPermitted)
	}
	return fmt.Errorf("device %s: %s: %w", ifname, what, err)
}

// InterfaceIndex returns the index of the named device; a missing device
// gives an error naming it that matches ErrNoDevice.
func InterfaceIndex(ifname string) (int, error) {
	if err := checkIfname(ifname); err != nil {
		return 0, err
	}
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return 0, fmt.Errorf("device %s: socket: %w", ifname, err)
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq(ifname)
	if err != nil {
		return 0, fmt.Errorf("device %q: %w", ifname, err)
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFINDEX, ifr); err != nil {
		return 0, deviceError(ifname, "SIOCGIFINDEX", err)
	}
	return int(ifr.Uint32()), nil
}

// QueueCount returns the device's RX queue count: rx + combined channels
// from ETHTOOL_GCHANNELS, else the rx-* entries in
// /sys/class/net/DEV/queues (root namespace view), else 1.
func QueueCount(ifname string) (int, error) {
	ch := ethtoolChannels{cmd: unix.ETHTOOL_GCHANNELS}
	err := ethtool(ifname, unsafe.Pointer(&ch))
	if err == nil {
		if n := int(ch.rxCount + ch.combinedCount); n > 0 {
			return n, nil
		}
		return 1, nil
	}
	if !errors.Is(err, unix.EOPNOTSUPP) {
		return 0, deviceError(ifname, "ETHTOOL_GCHANNELS", err)
	}
	matches, _ := filepath.Glob(filepath.Join("/sys/class/net", ifname, "queues", "rx-*"))
	if len(matches) > 0 {
		return len(matches), nil
	}
	return 1, nil
}

// DisableTxChecksumOffload turns TX checksum offload off on the device
// (ETHTOOL_STXCSUM 0, as `ethtool -K DEV tx off`); the kernel drops TSO
// with it. Needed on hosts whose frames cross AF_XDP: with offload on, the
// sender's stack leaves TCP/UDP checksums partial (CHECKSUM_PARTIAL) for a
// device to finish, an AF_XDP forwarder never finishes them, and the
// receiver drops the segments.
func DisableTxChecksumOffload(ifname string) error {
	v := ethtoolValue{cmd: unix.ETHTOOL_STXCSUM, data: 0}
	if err := ethtool(ifname, unsafe.Pointer(&v)); err != nil {
		return deviceError(ifname, "ETHTOOL_STXCSUM", err)
	}
	return nil
}

// TxChecksumOffload reports whether TX checksum offload is on
// (ETHTOOL_GTXCSUM).
func TxChecksumOffload(ifname string) (bool, error) {
	v := ethtoolValue{cmd: unix.ETHTOOL_GTXCSUM}
	if err := ethtool(ifname, unsafe.Pointer(&v)); err != nil {
		return false, deviceError(ifname, "ETHTOOL_GTXCSUM", err)
	}
	return v.data != 0, nil
}
