package probetest

import (
	"context"
	"fmt"
	"net"
)

// ServeRaw listens on addr (127.0.0.1:0 for any free loopback port) and
// hands each connection, once its request has been read, to handle, which
// answers as it likes and returns: a target that breaks HTTP (a reset, a
// garbled answer) rather than one that answers it. The connection is
// closed after handle. It serves until ctx ends, and returns the base URL.
func ServeRaw(ctx context.Context, addr string, handle func(net.Conn)) (string, error) {
	return ServeConns(ctx, addr, func(c net.Conn) {
		c.Read(make([]byte, 64<<10))
		handle(c)
	})
}

// ServeConns listens on addr and hands each connection to handle as it
// is accepted, closing it after handle returns. It serves until ctx ends,
// and returns the base URL.
func ServeConns(ctx context.Context, addr string, handle func(net.Conn)) (string, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return "", fmt.Errorf("probetest: %w", err)
	}
	go func() {
		<-ctx.Done()
		l.Close()
	}()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				handle(c)
			}()
		}
	}()
	return "http://" + l.Addr().String(), nil
}
