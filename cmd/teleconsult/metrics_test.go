package main

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// scrapeFamilies scrapes /metrics and returns the metric names it serves:
// every family, and a histogram's _bucket, _sum and _count series.
func scrapeFamilies(t *testing.T, s *testServer) (map[string]bool, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", s.URL+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+s.Key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("/metrics: %d %s", resp.StatusCode, b)
	}
	names := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^# TYPE (\S+) (\S+)$`).FindAllStringSubmatch(string(b), -1) {
		names[m[1]] = true
		if m[2] == "histogram" {
			for _, suffix := range []string{"_bucket", "_sum", "_count"} {
				names[m[1]+suffix] = true
			}
		}
	}
	return names, string(b)
}

// metricName matches the metric names in PromQL that belong to the
// service: its own, the Go runtime's and the process's.
var metricName = regexp.MustCompile(`\b(?:teleconsult|go|process)_[a-z0-9_]+\b`)

// alertExprs returns the expr of every rule in docs/alerts.yml (one line,
// or a "|" block).
func alertExprs(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile("../../docs/alerts.yml")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	lines := strings.Split(string(b), "\n")
	for i := 0; i < len(lines); i++ {
		l := lines[i]
		v, ok := strings.CutPrefix(strings.TrimSpace(l), "expr:")
		if !ok {
			continue
		}
		v = strings.TrimSpace(v)
		if v == "|" {
			indent := len(l) - len(strings.TrimLeft(l, " "))
			var block []string
			for i+1 < len(lines) && len(lines[i+1])-len(strings.TrimLeft(lines[i+1], " ")) > indent {
				i++
				block = append(block, strings.TrimSpace(lines[i]))
			}
			v = strings.Join(block, " ")
		}
		out = append(out, v)
	}
	return out
}

// dashboardExprs returns the expr of every target of every panel of
// docs/grafana-dashboard.json, which must be valid JSON.
func dashboardExprs(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile("../../docs/grafana-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Title  string
		Panels []struct {
			Title   string
			Type    string
			Targets []struct{ Expr string }
		}
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("the dashboard is not valid JSON: %v", err)
	}
	var out []string
	for _, p := range d.Panels {
		if p.Type != "row" && len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			out = append(out, tg.Expr)
		}
	}
	return out
}

// Ensure the service serves its metrics from one registry (HTTP, SFU,
// database, Go runtime and process), and that the dashboard, the alert
// rules and the README's Metrics section name only metrics it serves,
// the README every one of its own.
func TestMetricsWiredAndDocumented(t *testing.T) {
	s := startServer(t, nil)
	s.do(t, "POST", api+"/sessions", "", map[string]string{"code": strings.Repeat("A", 43)}, nil)
	names, text := scrapeFamilies(t, s)
	for _, want := range []string{"go_goroutines", "process_resident_memory_bytes", "teleconsult_http_requests_total",
		"teleconsult_sfu_calls", "teleconsult_sfu_rtp_packets_total", "teleconsult_db_operation_duration_seconds",
		"teleconsult_outbox_messages", "teleconsult_link_exchanges_total", "teleconsult_ready", "go_sql_open_connections"} {
		if !names[want] {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if !strings.Contains(text, `teleconsult_link_exchanges_total{outcome="unauthorized"} 1`) {
		t.Error("the unknown link was not counted")
	}

	exprs := map[string][]string{"docs/grafana-dashboard.json": dashboardExprs(t), "docs/alerts.yml": alertExprs(t)}
	for file, list := range exprs {
		if len(list) < 5 {
			t.Errorf("%s: %d queries", file, len(list))
		}
		for _, e := range list {
			found := metricName.FindAllString(e, -1)
			if len(found) == 0 {
				t.Errorf("%s: %q names no metric", file, e)
			}
			for _, n := range found {
				if !names[n] {
					t.Errorf("%s: %q uses %s, which /metrics does not serve", file, e, n)
				}
			}
		}
	}

	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(readme), "\n## Metrics\n")
	if !ok {
		t.Fatal("README.md has no Metrics section")
	}
	section, _, _ = strings.Cut(section, "\n## ")
	listed := regexp.MustCompile("`(teleconsult_[a-z0-9_]+)`").FindAllStringSubmatch(section, -1)
	var inReadme []string
	for _, m := range listed {
		inReadme = append(inReadme, m[1])
		if !names[m[1]] {
			t.Errorf("README lists %s, which /metrics does not serve", m[1])
		}
	}
	for n := range names {
		base := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(n, "_bucket"), "_sum"), "_count")
		if strings.HasPrefix(n, "teleconsult_") && base == n && !slices.Contains(inReadme, n) {
			t.Errorf("README's Metrics section does not list %s", n)
		}
	}
}
