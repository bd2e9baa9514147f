package main

import (
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkCreateWebhooks is POST /teleconsultation (16 connections)
// without a webhook receiver and with one (WEBHOOK_URL to a loopback
// receiver answering 204), in the same run: with a receiver each create
// also writes its event row, and the worker delivers meanwhile (claim, POST,
// mark) on the same database. It reports the events the receiver got
// during the run and by its end.
//
//	go test ./cmd/teleconsult -run '^$' -bench 'CreateWebhooks' -benchtime 3000x
func BenchmarkCreateWebhooks(b *testing.B) {
	benchDatabases(b, func(b *testing.B, env map[string]string) {
		for _, withHook := range []bool{false, true} {
			name := "no-receiver"
			if withHook {
				name = "receiver"
			}
			b.Run(name, func(b *testing.B) {
				var got atomic.Int64
				e := map[string]string{}
				for k, v := range env {
					e[k] = v
				}
				if withHook {
					rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
						got.Add(1)
						w.WriteHeader(http.StatusNoContent)
					}))
					defer rcv.Close()
					e["WEBHOOK_URL"], e["WEBHOOK_SECRET"] = rcv.URL+"/hooks", testWebhookSecret
				}
				s := startServer(b, e)
				bodies := make([][]byte, b.N)
				for i := range bodies {
					bodies[i] = benchCreateBody(s, i)
				}
				load(b, 16, 201, func(i int) *http.Request { return s.req("POST", api+"/teleconsultation", "", bodies[i]) })
				if withHook {
					during := got.Load()
					t0 := time.Now()
					for got.Load() < int64(b.N) && time.Since(t0) < time.Minute {
						time.Sleep(10 * time.Millisecond)
					}
					b.ReportMetric(float64(during)/float64(b.N)*100, "%delivered-during")
					b.ReportMetric(time.Since(t0).Seconds(), "s-to-deliver-rest")
					if n := got.Load(); n < int64(b.N) {
						b.Fatalf("%d of %d events delivered a minute after the run", n, b.N)
					}
				}
			})
		}
	})
}
