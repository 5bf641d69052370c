// Package buildinfo says which reportbot this is: the release version, kept here
// and only here, the commit it was built from and the Go that built it. `reportbot
// version`, the reportbot_build_info metric and the bot's User-Agent show them.
package buildinfo

import (
	"runtime/debug"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
)

// Version is this release of reportbot. CHANGELOG.md's newest released version is
// the same (a test checks it): bump both when releasing.
const Version = "0.1.0"

// Info identifies a build.
type Info struct {
	Version string
	// Commit is the git revision the binary was built from, with "+dirty" when the
	// work tree had changes, or "unknown" when the build recorded none (go build
	// outside a git checkout, or go test).
	Commit string
	// CommitTime is the commit's time (RFC 3339), or "".
	CommitTime string
	// GoVersion is the Go toolchain that built the binary, e.g. go1.26.8.
	GoVersion string
}

// Read returns the running binary's Info, from what go build recorded in it
// (runtime/debug.ReadBuildInfo: vcs.revision, vcs.time, vcs.modified).
func Read() Info {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return Info{Version: Version, Commit: "unknown", GoVersion: "unknown"}
	}
	return fromBuildInfo(bi)
}

func fromBuildInfo(bi *debug.BuildInfo) Info {
	i := Info{Version: Version, Commit: "unknown", GoVersion: bi.GoVersion}
	modified := false
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			i.Commit = s.Value
		case "vcs.time":
			i.CommitTime = s.Value
		case "vcs.modified":
			modified = s.Value == "true"
		}
	}
	if modified && i.Commit != "unknown" {
		i.Commit += "+dirty"
	}
	return i
}

// String is what `reportbot version` prints.
func (i Info) String() string {
	var b strings.Builder
	b.WriteString("reportbot " + i.Version + "\n")
	b.WriteString("commit:  " + i.Commit)
	if i.CommitTime != "" {
		b.WriteString(" (" + i.CommitTime + ")")
	}
	b.WriteString("\ngo:      " + i.GoVersion + "\n")
	return b.String()
}

// Collector is the reportbot_build_info gauge: always 1, with the build as labels
// (version, commit, go_version), so dashboards can tell which build runs where.
func (i Info) Collector() prometheus.Collector {
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "reportbot_build_info",
		Help:        "The running build: always 1, labelled with its version, commit and Go version.",
		ConstLabels: prometheus.Labels{"version": i.Version, "commit": i.Commit, "go_version": i.GoVersion},
	})
	g.Set(1)
	return g
}
