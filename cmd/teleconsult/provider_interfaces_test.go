package main

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/teleconsult/teleconsult/internal/daily"
	"github.com/teleconsult/teleconsult/internal/kaleyra"
	"github.com/teleconsult/teleconsult/internal/sfu"
	"github.com/teleconsult/teleconsult/internal/teleconsult"
)

// Ensure each video provider asserts at compile time
// (var _ teleconsult.X = (*Provider)(nil)) every interface of the domain's
// that it implements, so that a provider cannot stop implementing one
// unnoticed, nor start to by accident.
func TestProvidersAssertTheirInterfaces(t *testing.T) {
	interfaces := map[string]reflect.Type{
		"VideoProvider":     reflect.TypeFor[teleconsult.VideoProvider](),
		"RoomInspector":     reflect.TypeFor[teleconsult.RoomInspector](),
		"CredentialsIssuer": reflect.TypeFor[teleconsult.CredentialsIssuer](),
		"CallEnder":         reflect.TypeFor[teleconsult.CallEnder](),
		"WebhookReceiver":   reflect.TypeFor[teleconsult.WebhookReceiver](),
		"CallNotifier":      reflect.TypeFor[teleconsult.CallNotifier](),
	}
	for _, p := range []struct {
		dir string
		typ reflect.Type
	}{
		{"sfu", reflect.TypeFor[*sfu.Provider]()},
		{"daily", reflect.TypeFor[*daily.Provider]()},
		{"kaleyra", reflect.TypeFor[*kaleyra.Provider]()},
	} {
		files, err := filepath.Glob(filepath.Join("..", "..", "internal", p.dir, "*.go"))
		if err != nil || len(files) == 0 {
			t.Fatalf("%s: %v", p.dir, err)
		}
		var src strings.Builder
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			src.Write(b)
		}
		for name, it := range interfaces {
			asserted := strings.Contains(strings.Join(strings.Fields(src.String()), " "), "_ teleconsult."+name+" = (*Provider)(nil)")
			if implements := p.typ.Implements(it); implements != asserted {
				t.Errorf("%s.Provider: implements %s %v, asserted at compile time %v", p.dir, name, implements, asserted)
			}
		}
	}
}
