package xsk

// The XDP program: libbpf's default AF_XDP redirect (qidconf_map says which
// queues have a socket, xsks_map redirects them), as github.com/asavie/xdp
// translates it, with one step in front of it: overload shedding of new
// TCP connection requests (shed.go). The program is built here with
// cilium/ebpf's assembler and handed to asavie's xdp.Program, whose
// Register/Unregister/Close fill and free the maps.
//
// Attaching and detaching are done here through netlink rather than with
// asavie's Program.Attach/Detach, because those silently replace a program
// already on the device (Attach detaches first) and detach with mode flags 0,
// which on a device whose program sits in another mode (generic on veth)
// never completes: asavie's removeProgram then polls forever, one second at a
// time. Here attach uses XDP_FLAGS_UPDATE_IF_NOEXIST, so an existing program
// is refused atomically unless AttachOptions.Force, and detach tries each
// mode until the device reports no program.

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/asavie/xdp"
	"github.com/cilium/ebpf"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"cbac/internal/netns"
)

// Errors callers test with errors.Is.
var (
	ErrNoDevice        = errors.New("no such network device")
	ErrNotPermitted    = errors.New("operation not permitted (needs root: CAP_NET_ADMIN and CAP_BPF)")
	ErrNotSupported    = errors.New("XDP not supported by the device or kernel")
	ErrProgramAttached = errors.New("device already has an XDP program")
)

// ProgramName is the BPF program name of cbacd's XDP program; DetachStale
// recognises leftovers by it (and by the bytecode tag).
const ProgramName = "cbac_xsk"

// AttachMode selects where the kernel runs the program.
type AttachMode int

const (
	ModeAuto    AttachMode = iota // the driver's native XDP if it has one, else generic
	ModeNative                    // XDP_FLAGS_DRV_MODE
	ModeGeneric                   // XDP_FLAGS_SKB_MODE
)

func (m AttachMode) String() string {
	switch m {
	case ModeAuto:
		return "auto"
	case ModeNative:
		return "native"
	case ModeGeneric:
		return "generic"
	}
	return "invalid"
}

func (m AttachMode) flags() int {
	switch m {
	case ModeNative:
		return unix.XDP_FLAGS_DRV_MODE
	case ModeGeneric:
		return unix.XDP_FLAGS_SKB_MODE
	}
	return 0
}

// AttachOptions tune Attach.
type AttachOptions struct {
	Mode AttachMode
	// Force replaces an XDP program already attached to the device.
	// Without it Attach fails with ErrProgramAttached.
	Force bool
}

// Program is the redirect program attached to one device. Register a
// socket per queue; Close detaches and frees it. It holds an fd of the
// network namespace it was attached in (so Close works from any thread),
// which keeps that namespace alive until Close.
type Program struct {
	prog    *xdp.Program
	maps    *progMaps
	ifindex int
	ifname  string
	id      uint32
	nsFD    int // network namespace the device lives in, for Close
}

// live holds the IDs of programs this process has attached and not yet
// closed, so DetachStale never removes one of them.
var live struct {
	sync.Mutex
	ids map[uint32]bool
}

// Attach loads the redirect program for queues queues (0..queues-1) and
// attaches it to ifindex in the calling thread's network namespace.
// Every error path leaves the device as it found it, except that with Force
// a previous program is gone.
func Attach(ifindex int, queues int, opts AttachOptions) (*Program, error) {
	if queues <= 0 {
		return nil, fmt.Errorf("xdp attach ifindex %d: queue count %d", ifindex, queues)
	}
	link, err := linkByIndex(ifindex)
	if err != nil {
		return nil, fmt.Errorf("xdp attach: %w", err)
	}
	name := link.Attrs().Name
	if x := link.Attrs().Xdp; x != nil && x.Attached {
		if !opts.Force {
			return nil, fmt.Errorf("xdp attach %s: %w: %s (use force to replace)", name, ErrProgramAttached, describeProgram(x.ProgId))
		}
		if err := detachLink(ifindex); err != nil {
			return nil, fmt.Errorf("xdp attach %s: remove existing program: %w", name, err)
		}
	}
	nsFD, err := netns.Current()
	if err != nil {
		return nil, fmt.Errorf("xdp attach %s: %w", name, err)
	}
	prog, shed, err := newProgram(queues)
	if err != nil {
		unix.Close(nsFD)
		return nil, fmt.Errorf("xdp attach %s: load program: %w", name, classifyLoadError(err))
	}
	p := &Program{prog: prog, maps: shed, ifindex: ifindex, ifname: name, nsFD: nsFD}
	if id, err := prog.Program.ID(); err == nil {
		p.id = uint32(id)
	}
	flags := unix.XDP_FLAGS_UPDATE_IF_NOEXIST | opts.Mode.flags()
	if err := netlink.LinkSetXdpFdWithFlags(link, prog.Program.FD(), flags); err != nil {
		p.closeFDs()
		return nil, fmt.Errorf("xdp attach %s (mode %s): %w", name, opts.Mode, classifyAttachError(err))
	}
	// The kernel must now report our program; anything else is a race
	// with another attacher, and ours is not there to detach.
	link, err = linkByIndex(ifindex)
	if err != nil || link.Attrs().Xdp == nil || link.Attrs().Xdp.ProgId != p.id {
		if err == nil {
			err = fmt.Errorf("device reports program id %d, attached %d", attachedID(link), p.id)
		}
		p.detachOwn()
		p.closeFDs()
		return nil, fmt.Errorf("xdp attach %s: verify: %w", name, err)
	}
	live.Lock()
	if live.ids == nil {
		live.ids = make(map[uint32]bool)
	}
	live.ids[p.id] = true
	live.Unlock()
	return p, nil
}

// Register makes the program redirect frames of queue to the AF_XDP socket
// fd (Socket.FD).
func (p *Program) Register(queue int, fd int) error {
	if err := p.prog.Register(queue, fd); err != nil {
		return fmt.Errorf("xdp %s: register queue %d: %w", p.ifname, queue, err)
	}
	return nil
}

// Unregister stops redirecting queue; its frames go to the kernel stack.
func (p *Program) Unregister(queue int) error {
	if err := p.prog.Unregister(queue); err != nil {
		return fmt.Errorf("xdp %s: unregister queue %d: %w", p.ifname, queue, err)
	}
	return nil
}

// Ifindex returns the device the program is attached to.
func (p *Program) Ifindex() int { return p.ifindex }

// ID returns the kernel's BPF program ID.
func (p *Program) ID() uint32 { return p.id }

// Close detaches the program (if the device still carries it; from the
// network namespace it was attached in, whatever thread calls Close) and
// frees it.
func (p *Program) Close() error {
	if p.prog == nil {
		return nil
	}
	err := netns.InNetnsFD(p.nsFD, p.detachOwn)
	live.Lock()
	delete(live.ids, p.id)
	live.Unlock()
	if cerr := p.closeFDs(); cerr != nil {
		err = errors.Join(err, cerr)
	}
	if err != nil {
		return fmt.Errorf("xdp %s: close: %w", p.ifname, err)
	}
	return nil
}

// detachOwn detaches the device's program if it is this one.
func (p *Program) detachOwn() error {
	link, err := linkByIndex(p.ifindex)
	if errors.Is(err, ErrNoDevice) {
		return nil // device gone, program with it
	}
	if err != nil {
		return err
	}
	if attachedID(link) != p.id {
		return nil
	}
	return detachLink(p.ifindex)
}

func (p *Program) closeFDs() error {
	var err error
	if p.prog != nil {
		err = p.prog.Close()
		p.prog = nil
	}
	if p.maps != nil {
		err = errors.Join(err, p.maps.Close())
		p.maps = nil
	}
	if p.nsFD >= 0 {
		unix.Close(p.nsFD)
		p.nsFD = -1
	}
	return err
}

// DetachStale removes a redirect program that a previous cbacd left on
// ifindex (in the calling thread's network namespace) when it died without
// detaching (SIGKILL). Such a program keeps redirecting to sockets that no
// longer exist, and the kernel drops every frame of those queues.
//
// A program is recognised as ours by its BPF name (ProgramName) together
// with its bytecode tag, which must equal the tag of
// the program this package loads (the kernel's tag zeroes map fds, so it is
// the same for every load). No marker file is kept under /run: interface
// indexes are per network namespace and a marker could outlive or miss the
// program, while the name and tag travel with the program itself. A
// program of another cbacd build with the same bytecode also counts as
// ours; cbacd must own the devices it is configured for.
// A program with one of cbacd's names (ProgramName, or earlier builds'
// legacyProgramNames) but another tag comes from another cbacd build: it
// is removed only if no process holds it (orphaned), since a running
// cbacd keeps its program open; one that is held is left in place.
// Programs this process has attached and not closed are never removed.
//
// It returns whether a program was removed; a foreign program is left in
// place (Attach will then refuse the device with ErrProgramAttached).
func DetachStale(ifindex int) (bool, error) {
	link, err := linkByIndex(ifindex)
	if err != nil {
		return false, fmt.Errorf("xdp detach stale: %w", err)
	}
	name := link.Attrs().Name
	id := attachedID(link)
	if id == 0 {
		return false, nil
	}
	live.Lock()
	mine := live.ids[id]
	live.Unlock()
	if mine {
		return false, nil
	}
	kind, err := programKind(id)
	if err != nil {
		return false, fmt.Errorf("xdp detach stale %s: inspect program %d: %w", name, id, err)
	}
	switch kind {
	case foreignProgram:
		return false, nil
	case otherBuildProgram:
		held, err := programHeld(id)
		if err != nil {
			return false, fmt.Errorf("xdp detach stale %s: program %d: %w", name, id, err)
		}
		if held {
			return false, nil
		}
	}
	if err := detachLink(ifindex); err != nil {
		return false, fmt.Errorf("xdp detach stale %s: %w", name, err)
	}
	return true, nil
}

// Attached returns the ID of the XDP program on ifindex (0: none), in the
// calling thread's network namespace.
func Attached(ifindex int) (uint32, error) {
	link, err := linkByIndex(ifindex)
	if err != nil {
		return 0, err
	}
	return attachedID(link), nil
}

func attachedID(link netlink.Link) uint32 {
	if x := link.Attrs().Xdp; x != nil && x.Attached {
		if x.ProgId == 0 {
			return ^uint32(0) // attached, ID unknown (kernel < 4.13)
		}
		return x.ProgId
	}
	return 0
}

func linkByIndex(ifindex int) (netlink.Link, error) {
	link, err := netlink.LinkByIndex(ifindex)
	if err != nil {
		var nf netlink.LinkNotFoundError
		if errors.As(err, &nf) || errors.Is(err, unix.ENODEV) {
			return nil, fmt.Errorf("ifindex %d: %w", ifindex, ErrNoDevice)
		}
		return nil, fmt.Errorf("ifindex %d: netlink: %w", ifindex, err)
	}
	return link, nil
}

// detachLink removes whatever XDP program ifindex carries. The kernel keeps
// one program per mode and detaching needs the right mode flag; netlink
// reports only "attached", so each mode is tried until none is left.
func detachLink(ifindex int) error {
	var lastErr error
	for _, mode := range [...]int{unix.XDP_FLAGS_DRV_MODE, unix.XDP_FLAGS_SKB_MODE, unix.XDP_FLAGS_HW_MODE} {
		link, err := linkByIndex(ifindex)
		if err != nil {
			return err
		}
		if attachedID(link) == 0 {
			return nil
		}
		if err := netlink.LinkSetXdpFdWithFlags(link, -1, mode); err != nil {
			lastErr = classifyAttachError(err)
		}
	}
	link, err := linkByIndex(ifindex)
	if err != nil {
		return err
	}
	if id := attachedID(link); id != 0 {
		return fmt.Errorf("program %d still attached after detach: %w", id, lastErr)
	}
	return nil
}

// redirectTag caches the bytecode tag of the program newProgram loads.
var redirectTag struct {
	sync.Mutex
	tag string
}

func ourTag() (string, error) {
	redirectTag.Lock()
	defer redirectTag.Unlock()
	if redirectTag.tag != "" {
		return redirectTag.tag, nil
	}
	p, shed, err := newProgram(1)
	if err != nil {
		return "", classifyLoadError(err)
	}
	defer p.Close()
	defer shed.Close()
	info, err := p.Program.Info()
	if err != nil {
		return "", err
	}
	redirectTag.tag = info.Tag
	return info.Tag, nil
}

// What DetachStale makes of an attached program.
type programOrigin int

const (
	foreignProgram    programOrigin = iota // not cbacd's
	thisBuildProgram                       // cbacd's name and this build's bytecode
	otherBuildProgram                      // one of cbacd's names, other bytecode
)

// legacyProgramNames are the BPF names earlier cbacd builds gave their
// redirect program (the xdp library's own program).
var legacyProgramNames = []string{"xsk_ebpf"}

// programKind tells where the program with ID id comes from. The program
// fd it opens is closed before it returns, so programHeld does not see it.
func programKind(id uint32) (programOrigin, error) {
	prog, err := ebpf.NewProgramFromID(ebpf.ProgramID(id))
	if err != nil {
		return foreignProgram, err
	}
	defer prog.Close()
	info, err := prog.Info()
	if err != nil {
		return foreignProgram, err
	}
	if info.Type != ebpf.XDP || (info.Name != ProgramName && !slices.Contains(legacyProgramNames, info.Name)) {
		return foreignProgram, nil
	}
	tag, err := ourTag()
	if err != nil {
		return foreignProgram, err
	}
	if info.Name == ProgramName && info.Tag == tag {
		return thisBuildProgram, nil
	}
	return otherBuildProgram, nil
}

// programHeld reports whether some process holds an fd of the BPF program
// with ID id (its fdinfo names the ID). A running cbacd holds its
// program's; after SIGKILL only the device's attachment is left.
func programHeld(id uint32) (bool, error) {
	return fdinfoHolds("/proc", fmt.Sprintf("prog_id:\t%d\n", id))
}

// fdinfoHolds reports whether any process under procDir has an fd whose
// fdinfo contains line. Processes and fds that go away meanwhile, or that
// cannot be read, are skipped; only an unreadable procDir is an error.
func fdinfoHolds(procDir, line string) (bool, error) {
	procs, err := os.ReadDir(procDir)
	if err != nil {
		return false, err
	}
	for _, p := range procs {
		if p.Name()[0] < '0' || p.Name()[0] > '9' {
			continue
		}
		dir := filepath.Join(procDir, p.Name(), "fdinfo")
		fds, err := os.ReadDir(dir)
		if err != nil {
			continue
		}
		for _, fd := range fds {
			b, err := os.ReadFile(filepath.Join(dir, fd.Name()))
			if err == nil && strings.Contains(string(b), line) {
				return true, nil
			}
		}
	}
	return false, nil
}

// describeProgram names an attached program for an error message.
func describeProgram(id uint32) string {
	prog, err := ebpf.NewProgramFromID(ebpf.ProgramID(id))
	if err != nil {
		return fmt.Sprintf("program id %d", id)
	}
	defer prog.Close()
	info, err := prog.Info()
	if err != nil || info.Name == "" {
		return fmt.Sprintf("program id %d", id)
	}
	return fmt.Sprintf("program id %d %q", id, info.Name)
}

// classifyLoadError maps program and map load errors (some wrapped with %v,
// dropping the errno) to the package's sentinels.
func classifyLoadError(err error) error {
	msg := err.Error()
	switch {
	case errors.Is(err, unix.EPERM) || strings.Contains(msg, "operation not permitted"):
		return fmt.Errorf("%w: %v", ErrNotPermitted, err)
	case strings.Contains(msg, "invalid argument") || strings.Contains(msg, "not supported"):
		return fmt.Errorf("%w: %v", ErrNotSupported, err)
	}
	return err
}

func classifyAttachError(err error) error {
	switch {
	case errors.Is(err, unix.EPERM):
		return fmt.Errorf("%w: %w", ErrNotPermitted, err)
	case errors.Is(err, unix.EBUSY), errors.Is(err, unix.EEXIST):
		return fmt.Errorf("%w: %w", ErrProgramAttached, err)
	case errors.Is(err, unix.EOPNOTSUPP):
		return fmt.Errorf("%w: %w", ErrNotSupported, err)
	case errors.Is(err, unix.ERANGE):
		return fmt.Errorf("%w: %w (MTU too large for XDP on this device)", ErrNotSupported, err)
	case errors.Is(err, unix.ENODEV):
		return fmt.Errorf("%w: %w", ErrNoDevice, err)
	}
	return err
}
