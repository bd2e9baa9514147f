package main

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/teleconsult/teleconsult/internal/smtptest"
	"github.com/teleconsult/teleconsult/internal/teleconsult"
)

// Invitation benchmarks (BENCHMARKS.md):
//
//	go test ./cmd/teleconsult -run '^$' -bench 'Invitation' -benchtime 2000x

// BenchmarkInvitationDelivery is the outbox worker's throughput: b.N
// teleconsultations (two emailed participants each) are created while the
// SMTP server is down, then the server comes back and the time until all
// 2·b.N messages are accepted is measured (claim, read the participant,
// render text, HTML and iCalendar, SMTP on one kept connection, mark sent).
func BenchmarkInvitationDelivery(b *testing.B) {
	benchDatabases(b, func(b *testing.B, env map[string]string) {
		srv := smtptest.Start(b, smtptest.Options{})
		s := startServer(b, mailEnv(srv, env))
		srv.Stop()
		bodies := make([][]byte, b.N)
		for i := range bodies {
			bodies[i] = benchCreateBody(s, i)
		}
		load(b, 16, 201, func(i int) *http.Request { return s.req("POST", api+"/teleconsultation", "", bodies[i]) })
		b.ResetTimer()
		t0 := time.Now()
		srv.Restart()
		s.Clock.Set(s.Clock.Now().Add(2 * time.Hour))
		s.Main.Outbox.Notify(context.Background(), teleconsult.Notification{})
		srv.Wait(2*b.N, 10*time.Minute)
		elapsed := time.Since(t0)
		b.StopTimer()
		b.ReportMetric(float64(2*b.N)/elapsed.Seconds(), "msg/s")
	})
}

// BenchmarkInvitationCreate is BenchmarkCreate/conns=1 with
// invitations on: each create also writes two outbox rows in its commit.
func BenchmarkInvitationCreate(b *testing.B) {
	benchDatabases(b, func(b *testing.B, env map[string]string) {
		srv := smtptest.Start(b, smtptest.Options{})
		s := startServer(b, mailEnv(srv, env))
		srv.Stop() // measure the commits, not the worker competing for them
		bodies := make([][]byte, b.N)
		for i := range bodies {
			bodies[i] = benchCreateBody(s, i)
		}
		load(b, 1, 201, func(i int) *http.Request { return s.req("POST", api+"/teleconsultation", "", bodies[i]) })
	})
}
