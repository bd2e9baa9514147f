package main

import (
	"net"
	"net/url"
	"strings"
)

// Warnings returns what in a valid configuration will probably not work as
// the operator means it, one sentence each: `config check` prints them and
// `serve` logs them at start. They never hold a secret.
//
//   - PUBLIC_URL is plain http on a host other than this machine: browsers
//     give the camera and microphone only to https pages (and to
//     localhost), so participants could not turn them on.
//   - LISTEN_ADDR is every interface while PUBLIC_URL is its default, on
//     127.0.0.1: the service is reachable from other machines, but the
//     links it hands out work only on this one.
//   - A webhook receiver (WEBHOOK_URL, the JSON configuration's webhooks)
//     is plain http on a host other than this machine: the events cross
//     the network unencrypted.
func (c *Config) Warnings() []string {
	var out []string
	if u, err := url.Parse(c.PublicURL); err == nil && u.Scheme == "http" && !isLoopbackHost(u.Hostname()) {
		out = append(out, "PUBLIC_URL="+c.PublicURL+" is plain http on a host other than this machine: "+
			"browsers give the camera and microphone only to https pages (or localhost), so participants "+
			"could not turn them on. Use an https:// PUBLIC_URL, e.g. behind a TLS-terminating proxy.")
	}
	if host, _, err := net.SplitHostPort(c.ListenAddr); err == nil && c.source("PUBLIC_URL") == sourceDefault {
		if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
			out = append(out, "LISTEN_ADDR="+c.ListenAddr+" listens on every interface, but PUBLIC_URL is not set and "+
				"defaults to "+c.PublicURL+": the links the service hands out work only on this machine. "+
				"Set PUBLIC_URL to the address participants reach.")
		}
	}
	out = append(out, c.webhookWarnings()...)
	return append(out, c.fhirWarnings()...)
}

// isLoopbackHost reports whether host names this machine: localhost (and
// its subdomains, which browsers resolve to loopback), or a loopback IP.
func isLoopbackHost(host string) bool {
	h := strings.ToLower(strings.TrimSuffix(host, "."))
	if h == "localhost" || strings.HasSuffix(h, ".localhost") {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}
