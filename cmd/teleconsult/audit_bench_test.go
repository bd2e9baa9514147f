package main

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/teleconsult/teleconsult/internal/teleconsult"
)

// noAudit is the service's store with the audit trail left out: what GET
// and create cost without it, measured in the same run (BenchmarkAudit's
// audit=off). Only benchmarks use it.
type noAudit struct{ teleconsult.Store }

func (noAudit) AppendAudit(context.Context, []teleconsult.AuditEntry) error { return nil }

func (s noAudit) Apply(ctx context.Context, ch teleconsult.Change) error {
	ch.Audit = nil
	return s.Store.Apply(ctx, ch)
}

// BenchmarkAudit is BenchmarkGET (64 connections) and BenchmarkCreate (16
// connections) with the audit trail on, as the service runs, and off:
//
//	go test ./cmd/teleconsult -run '^$' -bench 'Noop|Audit' -benchtime 20000x
func BenchmarkAudit(b *testing.B) {
	benchDatabases(b, func(b *testing.B, env map[string]string) {
		for _, on := range []bool{true, false} {
			name := "audit=on"
			if !on {
				name = "audit=off"
			}
			open := func(b *testing.B) *testServer {
				s := startServer(b, env)
				if !on {
					s.Main.Service.Store = noAudit{s.Main.Service.Store}
				}
				return s
			}
			b.Run("GET/"+name, func(b *testing.B) {
				s := open(b)
				var created struct{ RoomID string }
				s.do(b, "POST", api+"/teleconsultation", "", json.RawMessage(benchCreateBody(s, 1)), &created)
				path := api + "/teleconsultation/" + created.RoomID
				load(b, conns, 200, func(int) *http.Request { return s.req("GET", path, "pat-1", nil) })
			})
			b.Run("create/"+name, func(b *testing.B) {
				s := open(b)
				bodies := make([][]byte, b.N)
				for i := range bodies {
					bodies[i] = benchCreateBody(s, i)
				}
				load(b, 16, 201, func(i int) *http.Request { return s.req("POST", api+"/teleconsultation", "", bodies[i]) })
			})
		}
	})
}
