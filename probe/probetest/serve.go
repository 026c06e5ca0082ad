package probetest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"
)

// Server is a running simulated target.
type Server struct {
	// URL is the base URL, e.g. http://127.0.0.1:41234.
	URL  string
	srv  *http.Server
	done chan struct{} // closed when Serve has returned
	err  error
}

// Serve listens on addr (use 127.0.0.1:0 for any free loopback port) and
// serves h until ctx ends or Close is called.
func Serve(ctx context.Context, addr string, h http.Handler) (*Server, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("probetest: %w", err)
	}
	s := &Server{
		URL: "http://" + l.Addr().String(),
		srv: &http.Server{
			Handler:           h,
			ReadHeaderTimeout: 10 * time.Second,
			IdleTimeout:       2 * time.Minute,
		},
		done: make(chan struct{}),
	}
	go func() {
		err := s.srv.Serve(l)
		if !errors.Is(err, http.ErrServerClosed) {
			s.err = err
		}
		close(s.done)
	}()
	go func() {
		select {
		case <-ctx.Done():
			s.Close()
		case <-s.done:
		}
	}()
	return s, nil
}

// Close stops the server at once, dropping open connections.
func (s *Server) Close() error {
	return s.srv.Close()
}

// Wait blocks until the server has stopped and returns why, nil for a
// normal stop.
func (s *Server) Wait() error {
	<-s.done
	return s.err
}
