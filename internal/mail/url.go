package mail

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
)

// Server is where mail goes: the parsed SMTP_URL.
type Server struct {
	// Host is a host name or an IP address (without brackets).
	Host string
	Port int
	// ImplicitTLS is smtps://: TLS from the first byte. Otherwise
	// (smtp://) STARTTLS is used whenever the server offers it.
	ImplicitTLS bool
	// Username and Password log in when Username is set. Password is a
	// secret: never printed.
	Username string
	Password string
}

// Default ports: submission (587) for smtp://, submissions (465) for
// smtps://.
const (
	DefaultPort    = 587
	DefaultTLSPort = 465
)

// ParseURL parses SMTP_URL: smtp://[user[:password]@]host[:port] (STARTTLS
// when offered) or smtps://... (implicit TLS). The user name and password
// are percent-decoded. Errors never repeat the password.
func ParseURL(s string) (Server, error) {
	var srv Server
	scheme, rest, ok := strings.Cut(s, "://")
	switch strings.ToLower(scheme) {
	case "smtp":
	case "smtps":
		srv.ImplicitTLS = true
	default:
		return srv, errors.New("expected smtp://user:password@host:port or smtps://…")
	}
	if !ok || strings.ContainsAny(s, " \t\r\n\x00") {
		return srv, errors.New("expected smtp://user:password@host:port or smtps://…, without spaces")
	}
	// Split the user info off by hand: url.Parse's errors quote the whole
	// URL, password included.
	userinfo, hostport := "", rest
	if at := strings.LastIndex(rest, "@"); at >= 0 {
		userinfo, hostport = rest[:at], rest[at+1:]
	}
	if i := strings.IndexAny(hostport, "/?#"); i >= 0 {
		if strings.Trim(hostport[i:], "/") != "" {
			return srv, errors.New("expected no path, query or fragment after host:port")
		}
		hostport = hostport[:i]
	}
	if userinfo != "" {
		user, pass, hasPass := strings.Cut(userinfo, ":")
		var err error
		if srv.Username, err = url.PathUnescape(user); err != nil || srv.Username == "" {
			return srv, errors.New("the user name is empty or badly percent-encoded")
		}
		if hasPass {
			if srv.Password, err = url.PathUnescape(pass); err != nil {
				return srv, errors.New("the password is badly percent-encoded (value not shown); encode special characters, e.g. @ as %40")
			}
		}
	}
	host, port := hostport, ""
	if h, p, err := net.SplitHostPort(hostport); err == nil {
		host, port = h, p
	} else if strings.HasPrefix(hostport, "[") && strings.HasSuffix(hostport, "]") {
		host = hostport[1 : len(hostport)-1]
	}
	if host == "" || strings.ContainsAny(host, "[]@:/") && net.ParseIP(host) == nil {
		return srv, fmt.Errorf("host %q: expected a host name or an IP address", host)
	}
	srv.Host = host
	switch {
	case port == "" && srv.ImplicitTLS:
		srv.Port = DefaultTLSPort
	case port == "":
		srv.Port = DefaultPort
	default:
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 {
			return srv, fmt.Errorf("port %q: expected a number from 1 to 65535", port)
		}
		srv.Port = n
	}
	return srv, nil
}

// Addr is host:port.
func (s Server) Addr() string { return net.JoinHostPort(s.Host, strconv.Itoa(s.Port)) }

// String is the URL with the password masked, for logs and
// `teleconsult config check`.
func (s Server) String() string {
	scheme := "smtp"
	if s.ImplicitTLS {
		scheme = "smtps"
	}
	user := ""
	if s.Username != "" {
		user = url.PathEscape(s.Username)
		if s.Password != "" {
			user += ":******"
		}
		user += "@"
	}
	return scheme + "://" + user + s.Addr()
}
