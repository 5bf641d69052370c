package commands

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/reportbot/reportbot/reporting"
)

// defaultCDNHosts are Discord's attachment hosts, DISCORD_CDN_HOSTS's default.
var defaultCDNHosts = []string{"cdn.discordapp.com", "media.discordapp.net"}

// cdnPolicy decides which evidence URLs the bot may download: files on Discord's CDN
// hosts only, over https, or over plain http on a loopback host (the tests' fake
// CDN). The attachment URLs of an interaction are whatever its sender wrote, so
// anything else (an internal service, a cloud metadata endpoint) is refused without
// a request.
type cdnPolicy struct{ hosts []string }

// newCDNPolicy allows hosts (host or host:port, lower case; nil: Discord's).
func newCDNPolicy(hosts []string) cdnPolicy {
	if len(hosts) == 0 {
		hosts = defaultCDNHosts
	}
	return cdnPolicy{hosts: hosts}
}

// refusal is why raw may not be downloaded (a reporting.Evidence* reason), or "".
func (p cdnPolicy) refusal(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.User != nil || u.Host == "" || !u.IsAbs() {
		return reporting.EvidenceBadURL
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
		return reporting.EvidenceNotCDN
	case u.Scheme == "https", u.Scheme == "http" && loopback(host):
		return ""
	}
	return reporting.EvidenceNotHTTPS
}

func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// errOffCDN is a redirect away from the CDN hosts, which is not followed.
var errOffCDN = errors.New("redirected off Discord's CDN")

// client is hc, following redirects only to URLs the policy allows, three at most.
func (p cdnPolicy) client(hc *http.Client) *http.Client {
	c := *hc
	c.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if len(via) >= 3 {
			return fmt.Errorf("downloading evidence: %d redirects", len(via))
		}
		if why := p.refusal(req.URL.String()); why != "" {
			return fmt.Errorf("%w (%s: %s)", errOffCDN, why, req.URL.Host)
		}
		return nil
	}
	return &c
}
