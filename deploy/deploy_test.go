// Package deploy holds what an operator deploys reportbot with besides the binary:
// the systemd unit and the Caddyfile of this folder, and the repository's Dockerfile
// and docker-compose.yml. Its tests check each with the tool that reads it
// (systemd-analyze, caddy, docker-compose, dockerfilelint); `make test` installs
// them. No Docker engine is needed: the image and the compose file are linted, not run.
package deploy

import (
	"bytes"
	"encoding/json"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v4"

	"github.com/reportbot/reportbot/bot"
)

// tool returns the path of command, on PATH or among the tools `make test` fetches
// without installing them (.ci/install-test-tools), or fails the test saying how to
// get it: a check that cannot run must not pass.
func tool(t *testing.T, command, how string) string {
	t.Helper()
	if path, err := exec.LookPath(command); err == nil {
		return path
	}
	dir := os.Getenv("REPORTBOT_TOOLS")
	if cache, err := os.UserCacheDir(); dir == "" && err == nil {
		dir = filepath.Join(cache, "reportbot-tools")
	}
	if path, err := exec.LookPath(filepath.Join(dir, "bin", command)); err == nil {
		return path
	}
	t.Fatalf("%s is not installed: `make test` installs it, or %s", command, how)
	return ""
}

// runTool runs a command and returns its stdout and stderr; it fails the test when
// the command fails.
func runTool(t *testing.T, cmd *exec.Cmd) (stdout, stderr string) {
	t.Helper()
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s: %v\n%s%s", strings.Join(cmd.Args, " "), err, o.String(), e.String())
	}
	return o.String(), e.String()
}

// pinnedImage is an image named by an exact version (1.2.3, with any suffix such as
// -alpine) or by its digest.
var pinnedImage = regexp.MustCompile(`^[a-z0-9./-]+(:[0-9]+\.[0-9]+\.[0-9]+(-[a-z0-9.]+)?|(:[a-z0-9.-]+)?@sha256:[0-9a-f]{64})$`)

// longerThanShutdown checks a supervisor's stop timeout against the bot's budget.
func longerThanShutdown(t *testing.T, what, value string) {
	t.Helper()
	d, err := time.ParseDuration(value)
	if err != nil || d <= bot.ShutdownBudget+5*time.Second {
		t.Errorf("%s is %q: it must be well above the bot's %s shutdown budget", what, value, bot.ShutdownBudget)
	}
}

// unit parses a systemd unit file into "Section.Key" -> values, in order.
func unit(t *testing.T, path string) map[string][]string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	section := ""
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
		case strings.HasPrefix(line, "["):
			section = strings.Trim(line, "[]")
		default:
			k, v, _ := strings.Cut(line, "=")
			out[section+"."+k] = append(out[section+"."+k], v)
		}
	}
	return out
}

func TestSystemdUnit(t *testing.T) {
	t.Parallel()
	analyze := tool(t, "systemd-analyze", "apt-get install systemd")
	u := unit(t, "reportbot.service")
	for key, want := range map[string]string{
		"Service.ExecStart":               "/usr/local/bin/reportbot",
		"Service.EnvironmentFile":         "/etc/reportbot/reportbot.env",
		"Service.Restart":                 "on-failure",
		"Service.DynamicUser":             "yes",
		"Service.ProtectSystem":           "strict",
		"Service.ProtectHome":             "yes",
		"Service.PrivateTmp":              "yes",
		"Service.NoNewPrivileges":         "yes",
		"Service.CapabilityBoundingSet":   "",
		"Service.RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX",
		"Service.SystemCallFilter":        "@system-service",
		"Install.WantedBy":                "multi-user.target",
	} {
		if !slices.Contains(u[key], want) {
			t.Errorf("%s: %q, want %q among them", key, u[key], want)
		}
	}
	if v := u["Service.TimeoutStopSec"]; len(v) != 1 {
		t.Errorf("TimeoutStopSec: %q", v)
	} else {
		longerThanShutdown(t, "TimeoutStopSec", v[0])
	}

	// systemd-analyze verify checks that ExecStart is executable: point it at a
	// binary that exists here. Any warning fails the test as an error would.
	b, err := os.ReadFile("reportbot.service")
	if err != nil {
		t.Fatal(err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	copied := filepath.Join(t.TempDir(), "reportbot.service")
	local := strings.Replace(string(b), "ExecStart=/usr/local/bin/reportbot", "ExecStart="+self, 1)
	if err := os.WriteFile(copied, []byte(local), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, errs := runTool(t, exec.Command(analyze, "verify", copied)); out+errs != "" {
		t.Errorf("systemd-analyze verify says:\n%s%s", out, errs)
	}
	// The hardening, as systemd scores it (exposure 1.1 of 10 today, "OK" below 5):
	// the threshold is in tenths.
	runTool(t, exec.Command(analyze, "security", "--offline=yes", "--threshold=20", copied))
}

func TestCaddyfile(t *testing.T) {
	t.Parallel()
	caddy := tool(t, "caddy", "apt-get download caddy and unpack it (installing Debian's package starts a web server)")
	env := append(os.Environ(), "PUBLIC_URL=https://reportbot.example.com", "HOME="+t.TempDir(), "XDG_DATA_HOME="+t.TempDir(), "XDG_CONFIG_HOME="+t.TempDir())
	formatted, _ := runTool(t, exec.Command(caddy, "fmt", "Caddyfile"))
	if b, _ := os.ReadFile("Caddyfile"); string(b) != formatted {
		t.Errorf("Caddyfile is not as caddy fmt writes it (caddy fmt --overwrite deploy/Caddyfile)")
	}
	validate := exec.Command(caddy, "validate", "--adapter", "caddyfile", "--config", "Caddyfile")
	validate.Env = env
	runTool(t, validate)

	adapt := exec.Command(caddy, "adapt", "--adapter", "caddyfile", "--config", "Caddyfile")
	adapt.Env = env
	out, _ := runTool(t, adapt)
	// What the proxy sends to the bot: Discord's and Bungie's paths, to every replica.
	var cfg struct {
		Apps struct {
			HTTP struct {
				Servers map[string]struct {
					Listen []string          `json:"listen"`
					Routes []json.RawMessage `json:"routes"`
				} `json:"servers"`
			} `json:"http"`
		} `json:"apps"`
	}
	if err := json.Unmarshal([]byte(out), &cfg); err != nil {
		t.Fatal(err)
	}
	srv, ok := cfg.Apps.HTTP.Servers["srv0"]
	if !ok || !slices.Contains(srv.Listen, ":443") {
		t.Fatalf("no HTTPS server in %s", out)
	}
	for _, want := range []string{`"host":["reportbot.example.com"]`, `"path":["/interactions","/oauth/bungie/*"]`,
		`"dynamic_upstreams":{"name":"bot","port":"8080"`, `"static_response"`} {
		if !strings.Contains(out, want) {
			t.Errorf("no %s in the adapted configuration:\n%s", want, out)
		}
	}
	if strings.Contains(out, "metrics") || strings.Contains(out, "readyz") {
		t.Errorf("the proxy exposes /metrics or /readyz:\n%s", out)
	}
}

func TestDockerfile(t *testing.T) {
	t.Parallel()
	lint := tool(t, "dockerfilelint", "npm install --global dockerfilelint@1.8.0")
	out, _ := runTool(t, exec.Command(lint, "../Dockerfile"))
	if !strings.Contains(out, "Issues: None found") {
		t.Errorf("dockerfilelint:\n%s", out)
	}
	b, err := os.ReadFile("../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "FROM" && !pinnedImage.MatchString(f[1]) {
			t.Errorf("%q: not an exact version or a digest", line)
		}
	}
	if !strings.Contains(string(b), `CMD ["/reportbot", "healthcheck"]`) {
		t.Error("the image has no HEALTHCHECK of its own")
	}
}

// compose is docker-compose.yml as docker-compose config reads it.
type compose struct {
	Services map[string]struct {
		Image           string            `yaml:"image"`
		Build           any               `yaml:"build"`
		Ports           []any             `yaml:"ports"`
		Environment     map[string]string `yaml:"environment"`
		StopGracePeriod string            `yaml:"stop_grace_period"`
		ContainerName   string            `yaml:"container_name"`
		Healthcheck     struct {
			Test []string `yaml:"test"`
		} `yaml:"healthcheck"`
		Volumes []any `yaml:"volumes"`
	} `yaml:"services"`
}

// composeConfig runs docker-compose config on docker-compose.yml with .env.example
// (plus extra lines) as its .env, in a copy of the files it uses.
func composeConfig(t *testing.T, extra string) (*exec.Cmd, string) {
	t.Helper()
	dc := tool(t, "docker-compose", "apt-get install docker-compose")
	dir := t.TempDir()
	for from, to := range map[string]string{"../docker-compose.yml": "docker-compose.yml", "Caddyfile": "deploy/Caddyfile", "../.env.example": ".env"} {
		b, err := os.ReadFile(from)
		if err != nil {
			t.Fatal(err)
		}
		if to == ".env" {
			b = append(b, extra...)
		}
		if err := os.MkdirAll(filepath.Join(dir, filepath.Dir(to)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, to), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(dc, "--project-directory", dir, "-f", filepath.Join(dir, "docker-compose.yml"), "config")
	// Only the .env counts, not this machine's environment.
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir}
	return cmd, dir
}

func TestCompose(t *testing.T) {
	t.Parallel()
	cmd, dir := composeConfig(t, "PUBLIC_URL=https://reportbot.example.com\n")
	out, errs := runTool(t, cmd)
	if errs != "" {
		t.Errorf("docker-compose config warns:\n%s", errs)
	}
	var c compose
	if err := yaml.Unmarshal([]byte(out), &c); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if got := slices.Sorted(maps.Keys(c.Services)); !slices.Equal(got, []string{"bot", "caddy", "redis"}) {
		t.Fatalf("services %v", got)
	}
	for name, s := range c.Services {
		if s.Build == nil && !pinnedImage.MatchString(s.Image) {
			t.Errorf("%s: image %q is not an exact version or a digest", name, s.Image)
		}
	}
	b := c.Services["bot"]
	if len(b.Ports) != 0 || b.ContainerName != "" {
		t.Errorf("bot: ports %v, container_name %q: only Caddy is published, and a fixed name forbids --scale", b.Ports, b.ContainerName)
	}
	if !slices.Equal(b.Healthcheck.Test, []string{"CMD", "/reportbot", "healthcheck"}) {
		t.Errorf("bot healthcheck %v", b.Healthcheck.Test)
	}
	longerThanShutdown(t, "the bot's stop_grace_period", b.StopGracePeriod)
	env := b.Environment
	if env["METRICS_ADDR"] == "" || env["METRICS_ADDR"] == env["HTTP_ADDR"] || env["DISCORD_GATEWAY"] != "false" || env["HTTP_ADDR"] != ":8080" {
		t.Errorf("bot environment: METRICS_ADDR %q, HTTP_ADDR %q, DISCORD_GATEWAY %q: metrics on their own address, "+
			"replicas without a gateway session, and the port the Caddyfile proxies to", env["METRICS_ADDR"], env["HTTP_ADDR"], env["DISCORD_GATEWAY"])
	}
	caddy := c.Services["caddy"]
	if caddy.Environment["PUBLIC_URL"] != "https://reportbot.example.com" ||
		!strings.Contains(strings.Join(flatten(caddy.Volumes), " "), filepath.Join(dir, "deploy/Caddyfile")) {
		t.Errorf("caddy: environment %v, volumes %v", caddy.Environment, caddy.Volumes)
	}

	t.Run("PUBLIC_URL is required", func(t *testing.T) {
		cmd, _ := composeConfig(t, "")
		out, err := cmd.CombinedOutput()
		if err == nil || !strings.Contains(string(out), "set PUBLIC_URL in .env") {
			t.Fatalf("docker-compose config without PUBLIC_URL: %v\n%s", err, out)
		}
	})
}

// flatten writes each volume, short or long form, as text.
func flatten(volumes []any) []string {
	var out []string
	for _, v := range volumes {
		b, _ := json.Marshal(v)
		out = append(out, string(b))
	}
	return out
}
