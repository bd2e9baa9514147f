package teleconsult_test

import (
	"net/url"
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
		v, err := f.svc.View(ctx, id, user, tc.LinkOptions{})
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
		cs, err := f.svc.ExchangeIn(ctx, links[tt.user], tc.LinkOptions{Language: tt.language})
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

// Ensure Mia's GET useBackground reaches the provider: GET puts it in the
// personal link (with the language), the link exchange passes it on, and
// the provider is asked for the background when the link asks for it or
// the participant's group is in groupsWithBackgroundList; useBackground
// false takes away nothing the groups give.
func TestExchangeBackground(t *testing.T) {
	f := newHostedFixture(t, func(s *tc.Settings) { s.Config.GroupsWithBackgroundList = []string{"doctor"} })
	id, err := f.svc.Create(ctx, validCreate())
	if err != nil {
		t.Fatal(err)
	}
	f.clock.Set(start)
	for _, tt := range []struct {
		user      string
		get       tc.LinkOptions // what GET asked
		wantQuery string         // the personal link's query
		wantBg    bool           // what the provider was asked
	}{
		{"pat-1", tc.LinkOptions{}, "", false},
		{"pat-1", tc.LinkOptions{Background: true}, "useBackground=true", true},
		{"pat-1", tc.LinkOptions{Language: "it", Background: true}, "lang=it&useBackground=true", true},
		{"pat-1", tc.LinkOptions{Language: "en"}, "lang=en", false},
		{"doc-1", tc.LinkOptions{}, "", true}, // the doctor's group has it
		{"doc-1", tc.LinkOptions{Background: true}, "useBackground=true", true},
	} {
		v, err := f.svc.View(ctx, id, tt.user, tt.get)
		if err != nil || v.AccessLinkURL == nil {
			t.Fatalf("%s %+v: view %v", tt.user, tt.get, err)
		}
		u, err := url.Parse(*v.AccessLinkURL)
		if err != nil || u.RawQuery != tt.wantQuery {
			t.Errorf("%s %+v: link query %q, want %q", tt.user, tt.get, u.RawQuery, tt.wantQuery)
		}
		// The page sends what the link's query says.
		q := u.Query()
		opts := tc.LinkOptions{Language: q.Get("lang"), Background: q.Get("useBackground") == "true"}
		f.h.joinBackground = !tt.wantBg
		if _, err := f.svc.ExchangeIn(ctx, code(t, v.AccessLinkURL), opts); err != nil || f.h.joinBackground != tt.wantBg {
			t.Errorf("%s %+v: provider asked for the background %v (%v), want %v", tt.user, tt.get, f.h.joinBackground, err, tt.wantBg)
		}
	}
}

// Ensure Settings.Background gives the background when asked, or to the
// groups of groupsWithBackgroundList, and otherwise not.
func TestSettingsBackground(t *testing.T) {
	s := tc.DefaultSettings()
	s.Config.GroupsWithBackgroundList = []string{"doctor", "nurse"}
	for _, tt := range []struct {
		groups []string
		asked  bool
		want   bool
	}{
		{nil, false, false},
		{nil, true, true},
		{[]string{"patient"}, false, false},
		{[]string{"patient", "nurse"}, false, true},
		{[]string{"doctor"}, false, true},
		{[]string{"patient"}, true, true},
	} {
		if got := s.Background(&tc.Participant{Groups: tt.groups}, tt.asked); got != tt.want {
			t.Errorf("groups %v, asked %v: %v, want %v", tt.groups, tt.asked, got, tt.want)
		}
	}
}
