package reporting

import (
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"
)

// pgcrSites are the sites whose post-game carnage report links ParseActivity reads.
var pgcrSites = []string{"bungie.net", "destinytracker.com", "raid.report", "dungeon.report",
	"crucible.report", "trials.report", "gm.report", "guardian.report"}

// activityParams are the query parameters that carry an activity id on those sites.
var activityParams = []string{"pgcr", "instance", "instanceid", "activity", "activityid"}

// ParseActivity reads what a reporter typed to name a Destiny 2 activity: its id (a
// positive int64), or a PGCR link from one of the sites players use, e.g.
// https://raid.report/pgcr/12345678901 or https://www.bungie.net/en/PGCR/12345678901.
func ParseActivity(s string) (string, error) {
	s = strings.TrimSpace(s)
	bad := func(problem string) (string, error) {
		return "", &InputError{Field: "activity", Problem: problem}
	}
	switch {
	case s == "":
		return bad("activity_empty")
	case !utf8.ValidString(s) || len(s) > 300:
		return bad("activity_not_id")
	}
	if id, ok := activityID(s); ok {
		return id, nil
	}
	if strings.Trim(strings.TrimLeft(s, "+-"), "0123456789") == "" {
		return bad("activity_id_range")
	}
	if !strings.ContainsAny(s, "./") {
		return bad("activity_not_id")
	}
	raw := s
	if !strings.Contains(raw, "://") {
		raw = "https://" + raw
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") {
		return bad("activity_not_id")
	}
	host := strings.TrimPrefix(strings.TrimPrefix(strings.ToLower(u.Hostname()), "www."), "m.")
	if !knownSite(host) {
		return "", &InputError{Field: "activity", Problem: "activity_site",
			Vars: map[string]any{"Sites": strings.Join(pgcrSites, ", "), "Host": host}}
	}
	// A path segment after "pgcr" (and after "report", for Bungie's report page)...
	segs := strings.Split(strings.Trim(u.Path, "/"), "/")
	for i, seg := range segs {
		if !strings.EqualFold(seg, "pgcr") {
			continue
		}
		for _, next := range segs[i+1:] {
			if id, ok := activityID(next); ok {
				return id, nil
			}
			if !strings.EqualFold(next, "report") {
				break
			}
		}
	}
	// ...or a query parameter.
	for key, vals := range u.Query() {
		for _, p := range activityParams {
			if strings.EqualFold(key, p) && len(vals) == 1 {
				if id, ok := activityID(vals[0]); ok {
					return id, nil
				}
			}
		}
	}
	return bad("activity_no_id")
}

func knownSite(host string) bool {
	for _, site := range pgcrSites {
		if host == site {
			return true
		}
	}
	return false
}

// activityID returns s as a canonical positive int64, if it is one.
func activityID(s string) (string, bool) {
	if s == "" || len(s) > 19 || strings.Trim(s, "0123456789") != "" {
		return "", false
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 {
		return "", false
	}
	return strconv.FormatInt(n, 10), true
}
