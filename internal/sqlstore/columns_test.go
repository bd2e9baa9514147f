package sqlstore

import (
	"strings"
	"testing"

	"github.com/teleconsult/teleconsult/internal/teleconsult"
)

// participantArgs gives one value per column of participantColumns, and
// the named positions Apply uses hold the user id and the provider user id.
func TestParticipantColumns(t *testing.T) {
	keys := testKeys(t, 7)
	for _, db := range []*DB{{keys: keys, dialect: DialectSQLite}, {keys: keys, dialect: DialectPostgres}} {
		tc := &teleconsult.Teleconsultation{ID: "tc-1"}
		p := newParticipant(keys, "user-9", "Mario Rossi", "mario@example.org", teleconsult.RoleBasic, "patient")
		args, err := db.participantArgs(tc, 3, &p)
		if err != nil {
			t.Fatal(err)
		}
		if n := len(strings.Split(participantColumns, ",")); len(args) != n || n != nParticipantColumns {
			t.Fatalf("%d values, %d columns, nParticipantColumns %d", len(args), n, nParticipantColumns)
		}
		if args[participantUserIDColumn] != "user-9" || args[participantProviderUserIDColumn] != "prov-user-9" {
			t.Errorf("user id %v, provider user id %v", args[participantUserIDColumn], args[participantProviderUserIDColumn])
		}
	}
}
