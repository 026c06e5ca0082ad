//go:build unix

package probe

import (
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// peeker looks at an idle connection's receive queue without waiting and
// without taking anything: net/http's background reader learns the same
// as it happens. It is built once a connection, so a look costs one
// system call and no allocation.
type peeker struct {
	raw   syscall.RawConn
	alive bool
	look  func(fd uintptr) bool
}

func newPeeker(raw syscall.RawConn) *peeker {
	p := &peeker{raw: raw}
	p.look = func(fd uintptr) bool {
		var b [1]byte
		_, _, errno := unix.Syscall6(unix.SYS_RECVFROM, fd, uintptr(unsafe.Pointer(&b[0])), 1,
			unix.MSG_PEEK|unix.MSG_DONTWAIT, 0, 0)
		p.alive = errno == unix.EAGAIN
		return true
	}
	return p
}

// closed reports whether the server closed the connection, or sent it
// something unasked.
func (p *peeker) closed() bool {
	err := p.raw.Read(p.look)
	return err != nil || !p.alive
}
