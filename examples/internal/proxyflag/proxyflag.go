// Package proxyflag holds the PROXY protocol flags the example servers
// share: -proxy-protocol, -proxy-trusted and -proxy-allow-direct.
package proxyflag

import (
	"flag"
	"fmt"
	"net/netip"
	"strings"

	"github.com/coopgo/coop/netio"
)

// Flags are the registered flags.
type Flags struct {
	enabled, direct *bool
	trusted         *string
}

// Register registers the flags on fs (flag.CommandLine if nil).
func Register(fs *flag.FlagSet) *Flags {
	if fs == nil {
		fs = flag.CommandLine
	}
	return &Flags{
		enabled: fs.Bool("proxy-protocol", false,
			"connections from -proxy-trusted sources begin with a PROXY protocol header (v1 or v2); others are refused unless -proxy-allow-direct"),
		trusted: fs.String("proxy-trusted", "127.0.0.0/8,::1/128",
			"comma-separated CIDRs of the balancers allowed to send a PROXY header"),
		direct: fs.Bool("proxy-allow-direct", false,
			"with -proxy-protocol, serve connections from other sources as they are, no header read (a kubelet's probe, say)"),
	}
}

// Config returns the server's PROXY protocol configuration: nil without
// -proxy-protocol.
func (f *Flags) Config() (*netio.ProxyProtocol, error) {
	if !*f.enabled {
		return nil, nil
	}
	p := &netio.ProxyProtocol{AllowDirect: *f.direct}
	for _, s := range strings.Split(*f.trusted, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		pfx, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("-proxy-trusted: %v", err)
		}
		p.Trusted = append(p.Trusted, pfx.Masked())
	}
	if len(p.Trusted) == 0 {
		return nil, fmt.Errorf("-proxy-protocol with no -proxy-trusted source")
	}
	return p, nil
}
