package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// The benchmarks of BENCHMARKS.md. Run them with:
//
//	go test ./cmd/teleconsult -run '^$' -bench . -benchtime 20000x
//
// Each load benchmark sends b.N requests over conns keep-alive connections
// from the same process and reports requests per second and latency
// percentiles; BenchmarkNoop and BenchmarkFsync are the ceilings measured
// in the same run.

const conns = 64

// load sends b.N requests made by mk over conns connections and reports
// req/s, p50 and p99 latency. Any status other than want fails.
func load(b *testing.B, conns, want int, mk func(i int) *http.Request) {
	tr := &http.Transport{MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns, DisableCompression: true}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	var next atomic.Int64
	lat := make([][]time.Duration, conns)
	var wg sync.WaitGroup
	var failed atomic.Value
	b.ResetTimer()
	t0 := time.Now()
	for w := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= b.N {
					return
				}
				req := mk(i)
				s := time.Now()
				resp, err := client.Do(req)
				if err != nil {
					failed.Store(err.Error())
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				lat[w] = append(lat[w], time.Since(s))
				if resp.StatusCode != want {
					failed.Store(fmt.Sprintf("status %d, want %d", resp.StatusCode, want))
					return
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(t0)
	b.StopTimer()
	if f := failed.Load(); f != nil {
		b.Fatal(f)
	}
	all := slices.Concat(lat...)
	slices.Sort(all)
	pct := func(p float64) float64 { return float64(all[int(float64(len(all)-1)*p)].Microseconds()) / 1000 }
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "req/s")
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
}

// BenchmarkNoop is the ceiling: a no-op net/http handler on loopback.
func BenchmarkNoop(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }() // http.ErrServerClosed when the benchmark ends
	defer srv.Close()
	url := "http://" + ln.Addr().String() + "/"
	load(b, conns, 200, func(int) *http.Request { r, _ := http.NewRequest("GET", url, nil); return r })
}

func benchCreateBody(s *testServer, i int) []byte {
	start := s.Clock.Now().Add(48 * time.Hour).Format(time.RFC3339)
	b, _ := json.Marshal(map[string]any{
		"start_date": start, "duration_in_seconds": 1800,
		"participants": map[string]any{"number": 2, "data": []map[string]any{
			{"userId": fmt.Sprintf("doc-%d", i%50), "groups": []string{"doctor"}, "fullName": "Dr. Anna Verdi", "language": "it", "email": "anna@example.org"},
			{"userId": fmt.Sprintf("pat-%d", i), "groups": []string{"patient"}, "fullName": "Mario Rossi", "language": "en", "email": "mario@example.org"},
		}},
	})
	return b
}

func (s *testServer) req(method, path, user string, body []byte) *http.Request {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	r, _ := http.NewRequest(method, s.URL+path, rd)
	r.Header.Set("Authorization", "Bearer "+s.Key)
	if body != nil {
		r.Header.Set("Content-Type", "application/json")
	}
	if user != "" {
		r.Header.Set("miauserid", user)
	}
	return r
}

func benchDatabases(b *testing.B, f func(b *testing.B, env map[string]string)) {
	b.Run("sqlite", func(b *testing.B) { f(b, map[string]string{}) })
	b.Run("postgres", func(b *testing.B) {
		f(b, map[string]string{"DATABASE_URL": pgtestURL(b)})
	})
}

// BenchmarkGET is GET /teleconsultation/{id} by a participant, 64 connections.
func BenchmarkGET(b *testing.B) {
	benchDatabases(b, func(b *testing.B, env map[string]string) {
		s := startServer(b, env)
		var created struct{ RoomID string }
		s.do(b, "POST", api+"/teleconsultation", "", json.RawMessage(benchCreateBody(s, 1)), &created)
		path := api + "/teleconsultation/" + created.RoomID
		load(b, conns, 200, func(int) *http.Request { return s.req("GET", path, "pat-1", nil) })
	})
}

// BenchmarkCreate is POST /teleconsultation, one connection (so req/s is
// commits per second), and 16 connections.
func BenchmarkCreate(b *testing.B) {
	benchDatabases(b, func(b *testing.B, env map[string]string) {
		for _, n := range []int{1, 16} {
			b.Run(fmt.Sprintf("conns=%d", n), func(b *testing.B) {
				s := startServer(b, env)
				bodies := make([][]byte, b.N)
				for i := range bodies {
					bodies[i] = benchCreateBody(s, i)
				}
				load(b, n, 201, func(i int) *http.Request { return s.req("POST", api+"/teleconsultation", "", bodies[i]) })
			})
		}
	})
}

// BenchmarkFsync is the disk's ceiling: 4 KiB written and fsynced per op,
// in the same temporary directory tree as the SQLite databases.
func BenchmarkFsync(b *testing.B) {
	f, err := os.Create(filepath.Join(b.TempDir(), "fsync"))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 4096)
	b.ResetTimer()
	t0 := time.Now()
	for i := 0; i < b.N; i++ {
		if _, err := f.WriteAt(buf, int64(i%256)*4096); err != nil {
			b.Fatal(err)
		}
		if err := f.Sync(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/time.Since(t0).Seconds(), "fsync/s")
}
