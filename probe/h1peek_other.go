//go:build !unix

package probe

import "syscall"

// peerClosed cannot look at a connection here: a closed one is found
// when a request fails on it, and the request goes again.
func peerClosed(syscall.RawConn) bool { return false }
