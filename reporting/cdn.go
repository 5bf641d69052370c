package reporting

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// DefaultCDNHosts are Discord's attachment hosts, DISCORD_CDN_HOSTS's default.
func DefaultCDNHosts() []string { return []string{"cdn.discordapp.com", "media.discordapp.net"} }

// CDN decides which evidence URLs the bot may download: files on Discord's CDN
// hosts only, over https, or over plain http on a loopback host (the tests' fake
// CDN). The attachment URLs of an interaction are whatever its sender wrote, so
// anything else (an internal service, a cloud metadata endpoint) is refused without
// a request.
type CDN struct{ hosts []string }

// NewCDN allows hosts (host or host:port, lower case; nil: Discord's).
func NewCDN(hosts []string) CDN {
	if len(hosts) == 0 {
		hosts = DefaultCDNHosts()
	}
	return CDN{hosts: hosts}
}

// Refusal is why raw may not be downloaded (an Evidence* reason), or "".
func (p CDN) Refusal(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.User != nil || u.Host == "" || !u.IsAbs() {
		return EvidenceBadURL
	}
	host, port := strings.ToLower(u.Hostname()), u.Port()
	allowed := slices.ContainsFunc(p.hosts, func(h string) bool {
		if _, _, err := net.SplitHostPort(h); err == nil {
			return h == strings.ToLower(u.Host)
		}
		return strings.Trim(h, "[]") == host && (port == "" || port == "443" && u.Scheme == "https")
	})
	switch {
	case !allowed:
		return EvidenceNotCDN
	case u.Scheme == "https", u.Scheme == "http" && loopback(host):
		return ""
	}
	return EvidenceNotHTTPS
}

func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// ErrOffCDN is a redirect away from the CDN hosts, which is not followed.
var ErrOffCDN = errors.New("redirected off Discord's CDN")

// Client is hc, following redirects only to URLs the policy allows, three at most.
func (p CDN) Client(hc *http.Client) *http.Client {
	c := *hc
	c.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if len(via) >= 3 {
			return fmt.Errorf("downloading evidence: %d redirects", len(via))
		}
		if why := p.Refusal(req.URL.String()); why != "" {
			return fmt.Errorf("%w (%s: %s)", ErrOffCDN, why, req.URL.Host)
		}
		return nil
	}
	return &c
}
