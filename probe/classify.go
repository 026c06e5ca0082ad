package probe

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"syscall"

	"github.com/capfinder/capfinder/probe/rundir"
)

// Classify maps a transport error to the status and error class recorded
// for it. ctx is the request's context: its cause tells the client timeout
// (status 512, "timeout") from the run being stopped ("canceled").
func Classify(ctx context.Context, err error) (status int32, class string) {
	if ctx.Err() != nil {
		if errors.Is(context.Cause(ctx), errTimeout) {
			return rundir.StatusTimeout, rundir.ErrTimeout
		}
		return 0, rundir.ErrCanceled
	}
	var (
		dnsErr  *net.DNSError
		certErr *tls.CertificateVerificationError
		unkAuth x509.UnknownAuthorityError
		hostErr x509.HostnameError
		invErr  x509.CertificateInvalidError
		recErr  tls.RecordHeaderError
		alert   tls.AlertError
		netErr  net.Error
	)
	switch {
	case errors.Is(err, syscall.EMFILE), errors.Is(err, syscall.ENFILE), errors.Is(err, syscall.EADDRNOTAVAIL):
		// Out of descriptors or local ports: the generator's limit.
		return 0, rundir.ErrLocal
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded):
		return rundir.StatusTimeout, rundir.ErrTimeout
	case errors.As(err, &dnsErr):
		return 0, rundir.ErrDNS
	case errors.Is(err, syscall.ECONNREFUSED):
		return 0, rundir.ErrRefused
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE),
		errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF), errors.Is(err, syscall.ECONNABORTED),
		strings.Contains(err.Error(), "server closed idle connection"):
		// The last is net/http's unexported error for a kept-alive
		// connection the server closed while the request was being written.
		return 0, rundir.ErrReset
	case errors.As(err, &certErr), errors.As(err, &unkAuth), errors.As(err, &hostErr),
		errors.As(err, &invErr), errors.As(err, &recErr), errors.As(err, &alert):
		return 0, rundir.ErrTLS
	case errors.As(err, &netErr) && netErr.Timeout():
		return rundir.StatusTimeout, rundir.ErrTimeout
	case isProtocol(err):
		return 0, rundir.ErrProtocol
	}
	return 0, rundir.ErrNetwork
}

// isProtocol recognises a malformed HTTP exchange. net/http reports these
// as plain errors without types, so their text is all there is.
func isProtocol(err error) bool {
	var pe *http.ProtocolError
	if errors.As(err, &pe) {
		return true
	}
	msg := err.Error()
	for _, s := range []string{"malformed HTTP", "bad status", "invalid", "unsupported transfer encoding", "multiple Content-Length"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}
