package bot

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"
)

// ShutdownBudget is the longest the bot takes to stop after a SIGTERM: a supervisor
// must wait longer before it kills it (deploy/reportbot.service and
// docker-compose.yml wait 35 s; tests in deploy/ check it).
const ShutdownBudget = shutdownWithin

// HealthcheckTimeout bounds `reportbot healthcheck`: a bot that takes longer to say
// it is ready is not.
const HealthcheckTimeout = 3 * time.Second

// CheckReady asks the bot listening on addr (its HTTP_ADDR) whether it is ready: nil
// when GET /readyz answers 200 within HealthcheckTimeout. It is `reportbot
// healthcheck`, for images without curl. An address that listens on every interface
// (":8080", "0.0.0.0:8080", "[::]:8080") is asked on the loopback.
func CheckReady(ctx context.Context, addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("HTTP_ADDR %q: %w", addr, err)
	}
	if port == "0" {
		return fmt.Errorf("HTTP_ADDR %q has no fixed port to ask", addr)
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	ctx, cancel := context.WithTimeout(ctx, HealthcheckTimeout)
	defer cancel()
	url := "http://" + net.JoinHostPort(host, port) + "/readyz"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("asking %s: %w", url, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 200))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s answered %s: %s", url, resp.Status, body)
	}
	return nil
}
