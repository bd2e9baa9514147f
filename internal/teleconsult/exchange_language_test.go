package teleconsult_test

import (
	"testing"

	tc "github.com/teleconsult/teleconsult/internal/teleconsult"
)

// Ensure the language a personal link is opened in (GET's language, the
// link's ?lang=) makes the provider's join target in that language, as
// Mia's GET language=it|en gives the Kaleyra link in it, while the session
// keeps the participant's own language when they have one; a malformed
// language is refused.
func TestExchangeLanguage(t *testing.T) {
	f := newHostedFixture(t, nil)
	in := validCreate()
	in.Participants[1].Language = "" // the patient has none
	id, err := f.svc.Create(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	f.clock.Set(start)
	links := map[string]string{}
	for _, user := range []string{"doc-1", "pat-1"} {
		v, err := f.svc.View(ctx, id, user, "")
		if err != nil {
			t.Fatal(err)
		}
		links[user] = code(t, v.AccessLinkURL)
	}
	tests := []struct {
		user, language     string
		wantJoin, wantPage string
		wantErr            string
	}{
		{"doc-1", "", "it", "it", ""},   // the doctor's own language
		{"doc-1", "en", "en", "it", ""}, // the link's language for the provider; the page keeps hers
		{"pat-1", "", "", "", ""},
		{"pat-1", "it", "it", "it", ""},
		{"pat-1", "ita", "", "", tc.EINVALID},
		{"pat-1", "IT", "", "", tc.EINVALID},
	}
	for _, tt := range tests {
		f.h.joinLanguage = "unset"
		cs, err := f.svc.ExchangeIn(ctx, links[tt.user], tt.language)
		if tt.wantErr != "" {
			if tc.ErrorCode(err) != tt.wantErr || f.h.joinLanguage != "unset" {
				t.Errorf("%s in %q: %v, joined %q; want %s, no join", tt.user, tt.language, err, f.h.joinLanguage, tt.wantErr)
			}
			continue
		}
		if err != nil || f.h.joinLanguage != tt.wantJoin || cs.Language != tt.wantPage {
			t.Errorf("%s in %q: join in %q, session in %q, %v; want %q, %q", tt.user, tt.language, f.h.joinLanguage, cs.Language, err, tt.wantJoin, tt.wantPage)
		}
	}
	stored := f.get(t, id)
	if stored.Participant("doc-1").Language != "it" || stored.Participant("pat-1").Language != "" {
		t.Error("the exchange changed a participant's stored language")
	}
}
