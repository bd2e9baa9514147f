package main

import (
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/teleconsult/teleconsult/internal/sfu"
	"github.com/teleconsult/teleconsult/internal/teleconsult"
)

// MediaConfig is the configuration of what participants upload during a
// call.
type MediaConfig struct {
	// UploadMaxBytes (UPLOAD_MAX_BYTES) limits one uploaded file.
	UploadMaxBytes int64
	// UploadTypes (UPLOAD_ALLOWED_TYPES) are the extensions of the types
	// of file participants may upload.
	UploadTypes []string
}

// mediaVariables are the variables of [MediaConfig] and then those of
// the built-in SFU ([sfu.Variables]), after LISTEN_ADDR.
func mediaVariables() []variable {
	return slices.Concat([]variable{
		{
			VarDoc: VarDoc{Name: "UPLOAD_MAX_BYTES", Default: "10485760",
				Description: "Largest file a participant may upload during a call, in bytes (1024 to 1073741824); larger ones get 413."},
			value: "10485760",
			parse: func(c *Config, v string) error {
				n, err := strconv.ParseInt(v, 10, 64)
				if err != nil || n < 1<<10 || n > 1<<30 {
					return fmt.Errorf("expected a whole number of bytes from %d to %d", 1<<10, 1<<30)
				}
				c.Media.UploadMaxBytes = n
				return nil
			},
			show: func(c *Config) shown { return shown{value: strconv.FormatInt(c.Media.UploadMaxBytes, 10)} },
		},
		{
			VarDoc: VarDoc{Name: "UPLOAD_ALLOWED_TYPES", Default: strings.Join(teleconsult.FileTypes(), ","),
				Description: "Types of file a participant may upload, as comma-separated extensions from the default list (images, PDF, plain text, office documents). A file must have one of them and content of that type (an HTML page named x.png is refused); others get 415 with the allowed types."},
			value: strings.Join(teleconsult.FileTypes(), ","),
			parse: func(c *Config, v string) (err error) {
				c.Media.UploadTypes, err = teleconsult.ParseFileTypes(v)
				return err
			},
			show: func(c *Config) shown { return shown{value: strings.Join(c.Media.UploadTypes, ",")} },
		},
	}, bind(sfu.Variables(), func(c *Config) *sfu.Config { return &c.SFU }))
}

// isLoopbackListen reports whether LISTEN_ADDR is on a loopback address
// (or localhost): then the built-in SFU offers loopback candidates unless
// RTC_LOOPBACK_CANDIDATES says otherwise.
func isLoopbackListen(listen string) bool {
	host, _, _ := net.SplitHostPort(listen)
	ip, err := netip.ParseAddr(host)
	return host == "localhost" || err == nil && ip.IsLoopback()
}
