package main

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// NetConfig is how the HTTP server protects itself and its clients: time
// limits, HSTS, and the cap on call sockets that have not authenticated.
type NetConfig struct {
	// RequestTimeout (REQUEST_TIMEOUT) bounds reading and answering an
	// ordinary API request.
	RequestTimeout time.Duration
	// TransferIdleTimeout (TRANSFER_IDLE_TIMEOUT) bounds the pause between
	// two reads of an upload or two writes of a download.
	TransferIdleTimeout time.Duration
	// HSTS (HSTS) sends Strict-Transport-Security when PUBLIC_URL is
	// https; see [Config.SendHSTS].
	HSTS bool
	// PendingPerClient and PendingMax (WS_PENDING_PER_CLIENT,
	// WS_PENDING_MAX) cap the call WebSockets not yet authenticated, per
	// client address and in all.
	PendingPerClient, PendingMax int
}

// Limits of the NetConfig durations.
const (
	minNetTimeout = time.Second
	maxNetTimeout = 10 * time.Minute
)

// SendHSTS reports whether responses carry Strict-Transport-Security: HSTS
// is on and participants reach the service over https (PUBLIC_URL), as
// through the TLS reverse proxy of a deployment.
func (c *Config) SendHSTS() bool {
	return c.Net.HSTS && strings.HasPrefix(c.PublicURL, "https://")
}

// netVariables are the variables of [NetConfig], after PUBLIC_URL.
func netVariables() []variable {
	duration := func(name, def, desc string, field func(*Config) *time.Duration) variable {
		return variable{
			VarDoc: VarDoc{Name: name, Default: def, Description: desc},
			value:  def,
			parse: func(c *Config, v string) error {
				d, err := time.ParseDuration(v)
				if err != nil || d < minNetTimeout || d > maxNetTimeout {
					return fmt.Errorf("expected a duration such as 30s, from %v to %v", minNetTimeout, maxNetTimeout)
				}
				*field(c) = d
				return nil
			},
			show: func(c *Config) shown { return shown{value: field(c).String()} },
		}
	}
	count := func(name, def, desc string, field func(*Config) *int) variable {
		return variable{
			VarDoc: VarDoc{Name: name, Default: def, Description: desc},
			value:  def,
			parse: func(c *Config, v string) error {
				n, err := strconv.Atoi(v)
				if err != nil || n < 1 || n > 1<<20 {
					return fmt.Errorf("expected a whole number from 1 to %d", 1<<20)
				}
				*field(c) = n
				return nil
			},
			show: func(c *Config) shown { return shown{value: strconv.Itoa(*field(c))} },
		}
	}
	return []variable{
		duration("REQUEST_TIMEOUT", "30s",
			"Time limit of reading and answering one API request (a Go duration from 1s to 10m); the headers of every request must arrive within 5s. Uploads, downloads and the call's WebSocket are not bound by it: see TRANSFER_IDLE_TIMEOUT.",
			func(c *Config) *time.Duration { return &c.Net.RequestTimeout }),
		duration("TRANSFER_IDLE_TIMEOUT", "30s",
			"Longest pause allowed in a file upload or download (a Go duration from 1s to 10m): the time limit moves on as bytes arrive, so a slow link finishes. A transfer must still average 256 kbit/s: a file of UPLOAD_MAX_BYTES (10 MiB) gets REQUEST_TIMEOUT plus 328 s.",
			func(c *Config) *time.Duration { return &c.Net.TransferIdleTimeout }),
		{
			VarDoc: VarDoc{Name: "HSTS", Default: "true",
				Description: "`true`: when PUBLIC_URL is https (the service behind a TLS reverse proxy), every response carries `Strict-Transport-Security: max-age=63072000`, so browsers never reach it over plain http again. `false`: never sent (the proxy sets it). true/false or 1/0."},
			value: "true",
			parse: func(c *Config, v string) (err error) { c.Net.HSTS, err = parseBool(v); return err },
			show: func(c *Config) shown {
				s := shown{value: strconv.FormatBool(c.Net.HSTS)}
				if c.Net.HSTS && !c.SendHSTS() {
					s.note = "not sent: PUBLIC_URL is not https"
				}
				return s
			},
		},
		count("WS_PENDING_PER_CLIENT", "32",
			"Call WebSockets (built-in video) that one client address (behind a proxy of TRUSTED_PROXIES, the forwarded one) may hold open before they authenticate; more are answered 429 with Retry-After before the upgrade. A page authenticates within milliseconds: the cap only stops floods.",
			func(c *Config) *int { return &c.Net.PendingPerClient }),
		count("WS_PENDING_MAX", "256",
			"Call WebSockets that may be open before they authenticate, from all clients together (keep it well below the process's file-descriptor limit, `ulimit -n`); more are answered 429.",
			func(c *Config) *int { return &c.Net.PendingMax }),
	}
}
