package audit

import (
	"errors"
	"fmt"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	libaudit "github.com/elastic/go-libaudit/v2"
	"golang.org/x/sys/unix"
)

// socket is the netlink socket engine receives audit records on. go-libaudit
// drives the audit protocol over it (it implements
// libaudit.NetlinkSendReceiver), but its own socket blocks in recvfrom with
// no way to wait with a timeout, to be woken for shutdown, or to size the
// receive buffer, and its replies to requests discard the records that
// arrive meanwhile. This socket adds those; the records themselves are read
// by recv, without an allocation per record.
type socket struct {
	fd     int
	portID uint32
	seq    atomic.Uint32
	buf    []byte
	closed atomic.Bool
}

// openSocket opens a NETLINK_AUDIT socket, bound to the multicast read-log
// group when multicast is set, with a receive buffer of rcvbuf bytes.
func openSocket(multicast bool, rcvbuf int) (*socket, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_AUDIT)
	if err != nil {
		if errors.Is(err, unix.EPROTONOSUPPORT) || errors.Is(err, unix.EAFNOSUPPORT) || errors.Is(err, unix.EINVAL) {
			return nil, fmt.Errorf("this kernel has no audit support (NETLINK_AUDIT): %w", err)
		}
		return nil, fmt.Errorf("open audit netlink socket: %w", err)
	}
	var groups uint32
	if multicast {
		groups = libaudit.NetlinkGroupReadLog
	}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK, Groups: groups}); err != nil {
		unix.Close(fd)
		if multicast && errors.Is(err, unix.EPERM) {
			return nil, fmt.Errorf("join the audit multicast group: %w (needs CAP_AUDIT_READ)", err)
		}
		return nil, fmt.Errorf("bind audit netlink socket: %w", err)
	}
	if rcvbuf > 0 {
		// FORCE lets root exceed net.core.rmem_max; fall back without it.
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, rcvbuf); err != nil {
			_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, rcvbuf)
		}
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("audit netlink socket: %w", err)
	}
	nl, ok := sa.(*unix.SockaddrNetlink)
	if !ok {
		unix.Close(fd)
		return nil, errors.New("audit netlink socket: unexpected address type")
	}
	return &socket{fd: fd, portID: nl.Pid, buf: make([]byte, unix.NLMSG_HDRLEN+libaudit.AuditMessageMaxLength)}, nil
}

// Send implements libaudit.NetlinkSender.
func (s *socket) Send(msg syscall.NetlinkMessage) (uint32, error) { return s.send(msg, 0) }

// SendNoWait implements libaudit.NetlinkSender.
func (s *socket) SendNoWait(msg syscall.NetlinkMessage) (uint32, error) {
	return s.send(msg, unix.MSG_DONTWAIT)
}

func (s *socket) send(msg syscall.NetlinkMessage, flags int) (uint32, error) {
	if msg.Header.Pid == 0 {
		msg.Header.Pid = s.portID
	}
	msg.Header.Seq = s.seq.Add(1)
	msg.Header.Len = uint32(unix.NLMSG_HDRLEN + len(msg.Data))
	b := make([]byte, msg.Header.Len)
	*(*syscall.NlMsghdr)(unsafe.Pointer(&b[0])) = msg.Header
	copy(b[unix.NLMSG_HDRLEN:], msg.Data)
	return msg.Header.Seq, unix.Sendto(s.fd, b, flags, &unix.SockaddrNetlink{Family: unix.AF_NETLINK})
}

// Receive implements libaudit.NetlinkReceiver, for the requests go-libaudit
// makes on this socket (unsetting the audit PID on close).
func (s *socket) Receive(nonBlocking bool, p libaudit.NetlinkParser) ([]syscall.NetlinkMessage, error) {
	flags := 0
	if nonBlocking {
		flags = unix.MSG_DONTWAIT
	}
	n, err := s.recvRaw(flags)
	if err != nil {
		return nil, err
	}
	return p(s.buf[:n])
}

// Close implements io.Closer.
func (s *socket) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	return unix.Close(s.fd)
}

// recvRaw reads one netlink message into s.buf and checks that it comes
// from the kernel (port 0): anything else is spoofed and skipped.
func (s *socket) recvRaw(flags int) (int, error) {
	for {
		var from unix.RawSockaddrNetlink
		fromLen := uint32(unix.SizeofSockaddrNetlink)
		n, _, errno := unix.Syscall6(unix.SYS_RECVFROM, uintptr(s.fd),
			uintptr(unsafe.Pointer(&s.buf[0])), uintptr(len(s.buf)), uintptr(flags),
			uintptr(unsafe.Pointer(&from)), uintptr(unsafe.Pointer(&fromLen)))
		if errno != 0 {
			if errno == unix.EINTR {
				continue
			}
			return 0, errno
		}
		if from.Pid != 0 {
			continue
		}
		if int(n) < unix.NLMSG_HDRLEN {
			return 0, fmt.Errorf("short netlink message (%d bytes)", n)
		}
		return int(n), nil
	}
}

// message is one netlink message as recv returns it; data is only valid
// until the next recv.
type message struct {
	typ   uint16
	seq   uint32
	data  []byte
	errno int32 // for NLMSG_ERROR: the error the kernel answered (0 = ack)
}

// recv reads one message without blocking. It returns unix.EAGAIN when
// there is none, and unix.ENOBUFS when the socket's buffer overflowed and
// messages were dropped (multicast readers see this).
func (s *socket) recv() (message, error) {
	n, err := s.recvRaw(unix.MSG_DONTWAIT)
	if err != nil {
		return message{}, err
	}
	h := (*unix.NlMsghdr)(unsafe.Pointer(&s.buf[0]))
	m := message{typ: h.Type, seq: h.Seq}
	// Audit messages ignore the netlink length; take what was read.
	m.data = s.buf[unix.NLMSG_HDRLEN:n]
	if h.Type == unix.NLMSG_ERROR && len(m.data) >= 4 {
		m.errno = *(*int32)(unsafe.Pointer(&m.data[0]))
	}
	return m, nil
}

// wait blocks until a message can be read or timeout passes.
func (s *socket) wait(timeout time.Duration) (bool, error) {
	fds := []unix.PollFd{{Fd: int32(s.fd), Events: unix.POLLIN}}
	ms := int(timeout / time.Millisecond)
	if ms <= 0 {
		ms = 1
	}
	for {
		n, err := unix.Poll(fds, ms)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return false, err
		}
		return n > 0, nil
	}
}
