//go:build unix

package probe

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// peerClosed reports whether an idle connection was closed by the
// server, or sent it something unasked: a look at its receive queue that
// does not wait and takes nothing. net/http's background reader learns
// the same as it happens.
func peerClosed(raw syscall.RawConn) bool {
	alive := false
	err := raw.Read(func(fd uintptr) bool {
		var b [1]byte
		_, _, err := unix.Recvfrom(int(fd), b[:], unix.MSG_PEEK|unix.MSG_DONTWAIT)
		alive = err == unix.EAGAIN
		return true
	})
	return err != nil || !alive
}
