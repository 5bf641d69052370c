package buildinfo

import (
	"maps"
	"runtime/debug"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

func TestFromBuildInfo(t *testing.T) {
	t.Parallel()
	const rev = "7fb6f4ae4ab2e702265b613a082788d62ae2868a"
	tests := []struct {
		name     string
		settings []debug.BuildSetting
		want     Info
	}{
		{"clean", []debug.BuildSetting{{Key: "vcs", Value: "git"}, {Key: "vcs.revision", Value: rev},
			{Key: "vcs.time", Value: "2026-12-01T12:24:46Z"}, {Key: "vcs.modified", Value: "false"}},
			Info{Version: Version, Commit: rev, CommitTime: "2026-12-01T12:24:46Z", GoVersion: "go1.26.8"}},
		{"modified", []debug.BuildSetting{{Key: "vcs.revision", Value: rev}, {Key: "vcs.modified", Value: "true"}},
			Info{Version: Version, Commit: rev + "+dirty", GoVersion: "go1.26.8"}},
		{"no vcs", []debug.BuildSetting{{Key: "-trimpath", Value: "true"}},
			Info{Version: Version, Commit: "unknown", GoVersion: "go1.26.8"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := fromBuildInfo(&debug.BuildInfo{GoVersion: "go1.26.8", Settings: tt.settings})
			if got != tt.want {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestString(t *testing.T) {
	t.Parallel()
	got := Info{Version: "0.1.0", Commit: "abc+dirty", CommitTime: "2026-12-01T12:24:46Z", GoVersion: "go1.26.8"}.String()
	want := "reportbot 0.1.0\ncommit:  abc+dirty (2026-12-01T12:24:46Z)\ngo:      go1.26.8\n"
	if got != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
}

func TestCollector(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(Info{Version: "0.1.0", Commit: "abc", GoVersion: "go1.26.8"}.Collector())
	mfs, err := reg.Gather()
	if err != nil || len(mfs) != 1 || len(mfs[0].Metric) != 1 {
		t.Fatalf("%v, %v", mfs, err)
	}
	mf, m := mfs[0], mfs[0].Metric[0]
	labels := map[string]string{}
	for _, l := range m.Label {
		labels[l.GetName()] = l.GetValue()
	}
	want := map[string]string{"version": "0.1.0", "commit": "abc", "go_version": "go1.26.8"}
	if mf.GetName() != "reportbot_build_info" || mf.GetType().String() != "GAUGE" || m.GetGauge().GetValue() != 1 || !maps.Equal(labels, want) {
		t.Fatalf("got %v", mf)
	}
}
