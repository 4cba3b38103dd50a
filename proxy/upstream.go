package proxy

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"
)

// defaultPort is the XMPP client port used when neither the address nor SRV gives one.
const defaultPort = 5222

// errHostUnknown marks an upstream name that does not resolve: the client gets host-unknown
// instead of remote-connection-failed.
var errHostUnknown = errors.New("host unknown")

// dialUpstream connects to the upstream as configured.
func (p *Proxy) dialUpstream(ctx context.Context) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, dialTimeout)
	defer cancel()
	c, err := p.dialUpstreamConn(ctx)
	if err != nil || p.cfg.AfterDial == nil {
		return c, err
	}
	if err := p.cfg.AfterDial(ctx, c); err != nil {
		c.Close()
		return nil, fmt.Errorf("dial upstream: %w", err)
	}
	return c, nil
}

// dialUpstreamConn connects to the upstream: with Config.Dial, or to Config.Upstream.
func (p *Proxy) dialUpstreamConn(ctx context.Context) (net.Conn, error) {
	if p.cfg.Dial != nil {
		c, err := p.cfg.Dial(ctx)
		if err != nil {
			return nil, fmt.Errorf("dial upstream: %w", err)
		}
		return c, nil
	}
	host, port, hasPort, err := splitUpstream(p.cfg.Upstream)
	if err != nil {
		return nil, err
	}
	if hasPort {
		return p.dialHost(ctx, host, port)
	}
	targets := p.lookupSRV(ctx, host)
	var errs []error
	for _, t := range targets {
		c, err := p.dialHost(ctx, t.host, t.port)
		if err == nil {
			return c, nil
		}
		errs = append(errs, err)
	}
	if len(targets) == 0 {
		return nil, fmt.Errorf("dial upstream %s: SRV record says the service is not available", host)
	}
	if len(errs) == len(targets) && allHostUnknown(errs) {
		return nil, fmt.Errorf("dial upstream %s: %w", host, errors.Join(errs...))
	}
	return nil, errors.Join(errs...)
}

func allHostUnknown(errs []error) bool {
	for _, e := range errs {
		if !errors.Is(e, errHostUnknown) {
			return false
		}
	}
	return true
}

// splitUpstream parses HOST[:PORT] (IPv6 addresses in brackets).
func splitUpstream(s string) (host string, port int, hasPort bool, err error) {
	if s == "" {
		return "", 0, false, errors.New("no upstream configured")
	}
	if h, ps, e := net.SplitHostPort(s); e == nil {
		n, e := strconv.Atoi(ps)
		if e != nil || n < 1 || n > 65535 {
			return "", 0, false, fmt.Errorf("upstream %q: bad port %q", s, ps)
		}
		return h, n, true, nil
	}
	h := strings.TrimSuffix(strings.TrimPrefix(s, "["), "]")
	if h == "" || strings.ContainsAny(h, "/ ") {
		return "", 0, false, fmt.Errorf("upstream %q: not HOST or HOST:PORT", s)
	}
	return h, 0, false, nil
}

type target struct {
	host string
	port int
}

// lookupSRV returns the targets of _xmpp-client._tcp.host in priority order (RFC 6120
// section 3.2.1), or host:5222 when there is no usable record. An empty result means the
// domain says it offers no client service (a single "." target).
func (p *Proxy) lookupSRV(ctx context.Context, host string) []target {
	fallback := []target{{host, defaultPort}}
	if net.ParseIP(host) != nil {
		return fallback
	}
	_, recs, err := p.resolver().LookupSRV(ctx, "xmpp-client", "tcp", host)
	if err != nil || len(recs) == 0 {
		return fallback
	}
	if len(recs) == 1 && (recs[0].Target == "." || recs[0].Target == "") {
		return nil
	}
	recs = append([]*net.SRV(nil), recs...)
	// net.Resolver already orders by priority and weight; an injected resolver may not.
	sort.SliceStable(recs, func(i, j int) bool { return recs[i].Priority < recs[j].Priority })
	out := make([]target, 0, len(recs))
	for _, r := range recs {
		if r.Target == "." || r.Target == "" {
			continue
		}
		out = append(out, target{strings.TrimSuffix(r.Target, "."), int(r.Port)})
	}
	return out
}

func (p *Proxy) resolver() Resolver {
	if p.cfg.Resolver != nil {
		return p.cfg.Resolver
	}
	return net.DefaultResolver
}

// dialHost connects to host:port, resolving host with the injected resolver when it can.
func (p *Proxy) dialHost(ctx context.Context, host string, port int) (net.Conn, error) {
	var d net.Dialer
	addrs := []string{host}
	if hr, ok := p.cfg.Resolver.(hostResolver); ok && net.ParseIP(host) == nil {
		a, err := hr.LookupHost(ctx, host)
		if err != nil {
			return nil, classifyDial(host, port, err)
		}
		addrs = a
	}
	var errs []error
	for _, a := range addrs {
		c, err := d.DialContext(ctx, "tcp", net.JoinHostPort(a, strconv.Itoa(port)))
		if err == nil {
			return c, nil
		}
		errs = append(errs, classifyDial(host, port, err))
	}
	return nil, errors.Join(errs...)
}

// classifyDial wraps err so that a name that does not exist is errHostUnknown.
func classifyDial(host string, port int, err error) error {
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) && dnsErr.IsNotFound {
		return fmt.Errorf("dial upstream %s:%d: %w: %w", host, port, errHostUnknown, err)
	}
	return fmt.Errorf("dial upstream %s:%d: %w", host, port, err)
}
