package commands

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/reportbot/reportbot/reporting"
)

// TestEvidenceOnlyFromTheCDN is the SSRF of issue 9: the attachment URLs of an
// interaction are the sender's to write, so evidence is downloaded only from
// DISCORD_CDN_HOSTS (over https unless the host is a loopback test host), never
// following a redirect off them. Anything else is never requested: the report is
// still filed, its mod-log post says which files were not fetched and why, and the
// refused URLs are not passed to RallyHere.
func TestEvidenceOnlyFromTheCDN(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{})
	w := h.world()
	h.setChannel(modlogChannel)

	// A service inside the network the bot runs in, e.g. a cloud metadata endpoint.
	var internalHits atomic.Int64
	internal := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		internalHits.Add(1)
		_, _ = io.WriteString(w, `{"AccessKeyId":"secret"}`)
	}))
	defer internal.Close()
	h.cdn.HandleFunc("/attachments/1/good.png", func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "PNG bytes") })
	h.cdn.HandleFunc("/attachments/2/hop.png", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, internal.URL+"/latest/meta-data/iam", http.StatusFound)
	})
	files := []struct{ id, name, url string }{
		{"500000000000000001", "good.png", h.cdnURL + "/attachments/1/good.png"},
		{"500000000000000002", "iam.json", internal.URL + "/latest/meta-data/iam"},
		{"500000000000000003", "hop.png", h.cdnURL + "/attachments/2/hop.png"},
		{"500000000000000004", "plain.png", "http://cdn.discordapp.com/attachments/4/plain.png"},
		{"500000000000000005", "meta.png", "https://169.254.169.254/latest/meta-data/"},
	}
	att := map[string]any{}
	var ids []string
	for _, f := range files {
		att[f.id] = map[string]any{"id": f.id, "filename": f.name, "size": 9, "url": f.url, "proxy_url": f.url}
		ids = append(ids, f.id)
	}
	i, resp := h.fileReport(w, alice, w.bobPlayer, att, ids)
	h.outcome(i, resp, "✅")
	post := h.modPost()

	if n := internalHits.Load(); n != 0 {
		t.Errorf("the internal service was requested %d times", n)
	}
	for _, u := range h.fetched.all() {
		if !strings.HasPrefix(u, h.cdnURL+"/") {
			t.Errorf("requested %s, which is not on the CDN", u)
		}
	}
	if len(post.Send.Files) != 1 || post.Send.Files[0].Name != "good.png" {
		t.Fatalf("re-uploaded %+v; want good.png only", post.Send.Files)
	}
	var evidence string
	for _, f := range post.Send.Embeds[0].Fields {
		if strings.HasPrefix(f.Name, "Evidence") {
			evidence = f.Value
		}
	}
	for _, want := range []string{"iam.json", "not fetched", "plain.png", "meta.png"} {
		if !strings.Contains(evidence, want) {
			t.Errorf("the mod log's evidence does not mention %q:\n%s", want, evidence)
		}
	}
	for _, link := range []string{"](" + internal.URL, "](https://169.254.169.254", "](http://cdn.discordapp.com"} {
		if strings.Contains(evidence, link) {
			t.Errorf("the mod log links a refused URL (%s):\n%s", link, evidence)
		}
	}
	reports := h.rh.Reports()
	if len(reports) != 1 {
		t.Fatalf("%d reports upstream", len(reports))
	}
	custom := reports[0].Body["custom_data"].(map[string]any)
	var sent []string
	for k, v := range custom {
		if strings.HasPrefix(k, "evidence_") {
			sent = append(sent, v.(string))
		}
	}
	// The redirecting file is on the CDN: its link goes upstream, as Discord's own.
	if len(sent) != 2 || custom["evidence_1"] != files[0].url || custom["evidence_2"] != files[2].url {
		t.Fatalf("evidence sent upstream %v; want the two CDN links only", custom)
	}
	id := custom["report_id"].(string)
	r, err := h.svc.Reports.Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	refused := 0
	for _, e := range r.Evidence {
		if e.Refused != "" {
			refused++
		}
	}
	if refused != 3 {
		t.Fatalf("record evidence %+v; want three refused", r.Evidence)
	}
}

func TestCDNPolicy(t *testing.T) {
	t.Parallel()
	p := reporting.NewCDN([]string{"cdn.discordapp.com", "media.discordapp.net", "127.0.0.1:4000", "cdn.internal.example:8443"})
	tests := []struct{ url, want string }{
		{"https://cdn.discordapp.com/attachments/1/2/a.png?ex=1&is=2&hm=3", ""},
		{"https://CDN.discordapp.com/attachments/1/2/a.png", ""},
		{"https://media.discordapp.net:443/attachments/1/2/a.png", ""},
		{"http://127.0.0.1:4000/cdn/attachments/1/a.png", ""},
		{"https://cdn.internal.example:8443/a.png", ""},
		{"http://cdn.discordapp.com/attachments/1/2/a.png", reporting.EvidenceNotHTTPS},
		{"http://cdn.internal.example:8443/a.png", reporting.EvidenceNotHTTPS},
		{"ftp://cdn.discordapp.com/a.png", reporting.EvidenceNotHTTPS},
		{"https://cdn.discordapp.com:8443/a.png", reporting.EvidenceNotCDN},
		{"http://127.0.0.1:4001/a.png", reporting.EvidenceNotCDN},
		{"http://127.0.0.1/latest/meta-data/iam", reporting.EvidenceNotCDN},
		{"http://169.254.169.254/latest/meta-data/", reporting.EvidenceNotCDN},
		{"https://cdn.discordapp.com.evil.example/a.png", reporting.EvidenceNotCDN},
		{"https://evil.example/cdn.discordapp.com/a.png", reporting.EvidenceNotCDN},
		{"https://cdn.discordapp.com@evil.example/a.png", reporting.EvidenceBadURL},
		{"https://user:pw@cdn.discordapp.com/a.png", reporting.EvidenceBadURL},
		{"/attachments/1/a.png", reporting.EvidenceBadURL},
		{"file:///etc/passwd", reporting.EvidenceBadURL},
		{"https://cdn.discordapp.com\x00/a.png", reporting.EvidenceBadURL},
		{"", reporting.EvidenceBadURL},
	}
	for _, tt := range tests {
		if got := p.Refusal(tt.url); got != tt.want {
			t.Errorf("refusal(%q) = %q, want %q", tt.url, got, tt.want)
		}
	}
	if got := reporting.NewCDN(nil).Refusal("https://media.discordapp.net/a.png"); got != "" {
		t.Errorf("the default hosts refuse Discord's: %q", got)
	}
}

// TestEvidenceDownload: a download follows redirects within the CDN only, gives up
// on a file over the size cap without reading it, and on a CDN that does not answer.
func TestEvidenceDownload(t *testing.T) {
	t.Parallel()
	var internalHits atomic.Int64
	internal := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { internalHits.Add(1) }))
	defer internal.Close()
	mux := http.NewServeMux()
	cdn := httptest.NewServer(mux)
	defer cdn.Close()
	mux.HandleFunc("/ok", func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "bytes") })
	mux.HandleFunc("/moved", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/ok", http.StatusFound) })
	mux.HandleFunc("/away", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, internal.URL+"/iam", http.StatusFound)
	})
	mux.HandleFunc("/huge", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", fmt.Sprint(maxEvidenceFile+1))
		w.WriteHeader(200)
	})
	hang := make(chan struct{})
	defer close(hang)
	mux.HandleFunc("/hang", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-hang:
		case <-r.Context().Done():
		}
	})
	n := NewNotifier(newRecorder(), nil, []string{strings.TrimPrefix(cdn.URL, "http://")}, zerolog.Nop())
	n.fetchWithin = 300 * time.Millisecond
	ctx := context.Background()
	for _, path := range []string{"/ok", "/moved"} {
		if data, err := n.download(ctx, cdn.URL+path); err != nil || string(data) != "bytes" {
			t.Errorf("%s: %q, %v", path, data, err)
		}
	}
	if _, err := n.download(ctx, cdn.URL+"/away"); !errors.Is(err, reporting.ErrOffCDN) || internalHits.Load() != 0 {
		t.Errorf("a redirect off the CDN: %v, %d requests off it", err, internalHits.Load())
	}
	if _, err := n.download(ctx, cdn.URL+"/huge"); err == nil || !strings.Contains(err.Error(), "over") {
		t.Errorf("a file over the cap: %v", err)
	}
	start := time.Now()
	if _, err := n.download(ctx, cdn.URL+"/hang"); !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 5*time.Second {
		t.Errorf("a CDN that hangs: %v after %s", err, time.Since(start))
	}
	if _, err := n.download(ctx, internal.URL+"/iam"); err == nil || internalHits.Load() != 0 {
		t.Errorf("a URL off the CDN: %v, %d requests", err, internalHits.Load())
	}
}
