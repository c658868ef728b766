package app

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// Who a request comes from, and over which scheme. By default both come from the connection
// alone: any client can send X-Forwarded-For or X-Forwarded-Proto, so a header is believed only
// when the connection comes from a proxy named in Config.TrustedProxies.

// remoteAddr is the connection's peer address.
func remoteAddr(r *http.Request) netip.Addr {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	a, _ := netip.ParseAddr(host)
	return a.Unmap()
}

func (s *Server) trusted(a netip.Addr) bool {
	for _, p := range s.proxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// fromProxy reports whether the request came through a trusted proxy.
func (s *Server) fromProxy(r *http.Request) bool {
	return len(s.proxies) > 0 && s.trusted(remoteAddr(r))
}

// clientAddr is the address rate limits count against: the connection's peer, or behind trusted
// proxies the right-most X-Forwarded-For address that is not one of them (the left part of the
// header is whatever the client wrote).
func (s *Server) clientAddr(r *http.Request) string {
	a := remoteAddr(r)
	if !s.fromProxy(r) {
		return a.String()
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		h, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			break // garbage: stop at the last address we could trust
		}
		a = h.Unmap()
		if !s.trusted(a) {
			break
		}
	}
	return a.String()
}

// scheme is the scheme the client used: https on a TLS connection, or when a trusted proxy says
// so in X-Forwarded-Proto (its last value, the one the nearest proxy wrote).
func (s *Server) scheme(r *http.Request) string {
	if r.TLS != nil {
		return "https"
	}
	if s.fromProxy(r) {
		v := r.Header.Values("X-Forwarded-Proto")
		if len(v) > 0 {
			parts := strings.Split(v[len(v)-1], ",")
			if strings.EqualFold(strings.TrimSpace(parts[len(parts)-1]), "https") {
				return "https"
			}
		}
	}
	return "http"
}

// secure reports whether the client reached us over https: cookies are then Secure and the
// answers carry HSTS.
func (s *Server) secure(r *http.Request) bool { return s.scheme(r) == "https" }
