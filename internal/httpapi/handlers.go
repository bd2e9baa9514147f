package httpapi

import (
	"net/http"
	"regexp"
	"strconv"
	"time"

	"github.com/teleconsult/teleconsult/internal/clientaddr"
	"github.com/teleconsult/teleconsult/internal/teleconsult"
)

// Handlers: decode, call one Service method, encode. They return an error
// for [Server.writeError].

var roomIDShape = regexp.MustCompile(`^[0-9a-f]{32}$`)

// echoableID is a path id short and plain enough to repeat in a message
// (at most [teleconsult.MaxEcho] characters).
var echoableID = regexp.MustCompile(`^[A-Za-z0-9._~-]{1,32}$`)

// roomID returns the {id} path value when it has the shape of an id
// ([teleconsult.NewID]); anything else is not found, without asking the
// store. Mia's message names the id; long or odd ones are not echoed.
func roomID(r *http.Request) (string, error) {
	id := r.PathValue("id")
	switch {
	case roomIDShape.MatchString(id):
		return id, nil
	case echoableID.MatchString(id):
		return "", &httpError{status: http.StatusNotFound, msg: "Room with id " + id + " not found"}
	default:
		return "", &httpError{status: http.StatusNotFound, msg: "Room not found"}
	}
}

// timeLayout is how dates are written: UTC with milliseconds, as Mia does
// (2022-01-10T11:41:19.000Z).
const timeLayout = "2006-01-02T15:04:05.000Z07:00"

func formatTime(t time.Time) string { return t.UTC().Format(timeLayout) }

type createResponse struct {
	RoomID string `json:"roomId"`
}

func (s *Server) handleCreate(w http.ResponseWriter, r *http.Request) error {
	body, err := s.readJSON(w, r, true)
	if err != nil {
		return err
	}
	in, err := s.decodeCreate(body)
	if err != nil {
		return err
	}
	id, err := s.svc.Create(r.Context(), in)
	if err != nil {
		return miaNoPlusUser(err, "POST /teleconsultation")
	}
	w.Header().Set("Location", Prefix+"/teleconsultation/"+id)
	s.writeJSON(w, r, http.StatusCreated, createResponse{RoomID: id})
	return nil
}

func (s *Server) handleUpdate(w http.ResponseWriter, r *http.Request) error {
	id, err := roomID(r)
	if err != nil {
		return err
	}
	body, err := s.readJSON(w, r, true)
	if err != nil {
		return err
	}
	in, err := s.decodeUpdate(body)
	if err != nil {
		return err
	}
	if err := s.svc.Update(r.Context(), id, in); err != nil {
		return miaNoPlusUser(err, "PATCH /teleconsultation")
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) handleAddParticipant(w http.ResponseWriter, r *http.Request) error {
	id, err := roomID(r)
	if err != nil {
		return err
	}
	body, err := s.readJSON(w, r, true)
	if err != nil {
		return err
	}
	in, err := decodeParticipant(body, "")
	if err != nil {
		return err
	}
	if err := s.svc.AddParticipant(r.Context(), id, in); err != nil {
		return miaNoPlusUser(err, "POST /teleconsultation/"+id+"/participants/data")
	}
	w.WriteHeader(http.StatusCreated)
	return nil
}

func (s *Server) handleDelete(w http.ResponseWriter, r *http.Request) error {
	id, err := roomID(r)
	if err != nil {
		return err
	}
	if err := s.svc.Cancel(r.Context(), id); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// viewResponse is Mia's GET /teleconsultation/{id} body, with the
// "bandyer" names kept for compatibility.
type viewResponse struct {
	BandyerUserID string       `json:"bandyerUserId"`
	AccessLinkURL *string      `json:"accessLinkURL"`
	Participants  []callPerson `json:"participantsBandyerCall"`
	Details       viewDetails  `json:"details"`
}

type callPerson struct {
	BandyerUserID string `json:"bandyerUserId"`
	FullName      string `json:"fullName"`
}

type viewDetails struct {
	Status                string            `json:"status"`
	DurationInSeconds     int64             `json:"durationInSeconds"`
	DurationUsedInSeconds int64             `json:"durationUsedInSeconds"`
	Live                  bool              `json:"live"`
	CreationDate          string            `json:"creationDate"`
	StartDate             string            `json:"startDate"`
	EndDate               string            `json:"endDate"`
	JoinableFrom          string            `json:"joinableFrom"`
	Unlimited             bool              `json:"unlimited"`
	Disabled              bool              `json:"disabled"`
	ExpectedParticipants  int               `json:"expectedParticipants"`
	Role                  string            `json:"role"`
	Tools                 teleconsult.Tools `json:"tools"`
	providerDetails
	// Waiting is who waits, for a caller whose role admits (WAITING_ROOM);
	// absent for others (a pointer: an empty list is shown).
	Waiting *[]waitingPerson `json:"waiting,omitempty"`
}

type waitingPerson struct {
	BandyerUserID string `json:"bandyerUserId"`
	FullName      string `json:"fullName"`
	Since         string `json:"since"`
}

func (s *Server) handleGet(w http.ResponseWriter, r *http.Request) error {
	id, err := roomID(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	ub := q.Get("useBackground")
	if ub != "" && ub != "true" && ub != "false" {
		return badRequest("useBackground: must be true or false")
	}
	v, err := s.svc.View(r.Context(), id, s.userID(r), teleconsult.LinkOptions{Language: q.Get("language"), Background: ub == "true"})
	if err != nil {
		return err
	}
	resp := viewResponse{
		BandyerUserID: v.ProviderUserID,
		AccessLinkURL: v.AccessLinkURL,
		Participants:  make([]callPerson, 0, len(v.Participants)),
		Details: viewDetails{
			Status:                v.Status.String(),
			DurationInSeconds:     int64(v.Duration / time.Second),
			DurationUsedInSeconds: int64(v.DurationUsed / time.Second),
			Live:                  v.Live,
			CreationDate:          formatTime(v.CreatedAt),
			StartDate:             formatTime(v.Window.Start),
			EndDate:               formatTime(v.Window.End),
			JoinableFrom:          formatTime(v.Window.Opens),
			Unlimited:             !v.Window.Limited,
			Disabled:              !v.Joinable,
			ExpectedParticipants:  v.Expected,
			Role:                  v.Role.String(),
			Tools:                 v.Tools,
		},
	}
	for _, p := range v.Participants {
		resp.Participants = append(resp.Participants, callPerson{BandyerUserID: p.ProviderUserID, FullName: p.FullName})
	}
	resp.Details.addProvider(v.ProviderDetails)
	if v.Waiting != nil {
		list := make([]waitingPerson, 0, len(v.Waiting))
		for _, w := range v.Waiting {
			list = append(list, waitingPerson{BandyerUserID: w.ParticipantID, FullName: w.FullName, Since: formatTime(w.Since)})
		}
		resp.Details.Waiting = &list
	}
	s.writeJSON(w, r, http.StatusOK, resp)
	return nil
}

type credentialsResponse struct {
	AccessToken   string `json:"accessToken"`
	ExpiresAt     string `json:"expiresAt"`
	BandyerUserID string `json:"bandyerUserId"`
}

func (s *Server) handleCredentials(w http.ResponseWriter, r *http.Request) error {
	body, err := s.readBody(w, r)
	if err != nil {
		return err
	}
	var ttl time.Duration
	if len(body) > 0 {
		v, err := parseStrict(body)
		if err != nil {
			return err
		}
		if ttl, err = decodeCredentials(s.withoutIdentityField(v)); err != nil {
			return err
		}
	}
	c, err := s.svc.Credentials(r.Context(), s.userID(r), ttl)
	if err != nil {
		return err
	}
	s.writeJSON(w, r, http.StatusCreated, credentialsResponse{
		AccessToken: c.AccessToken, ExpiresAt: formatTime(c.ExpiresAt), BandyerUserID: c.ProviderUserID,
	})
	return nil
}

// sessionResponse is what the call page gets for a personal link code.
type sessionResponse struct {
	Token              string            `json:"token"`
	ExpiresAt          string            `json:"expiresAt"`
	TeleconsultationID string            `json:"teleconsultationId"`
	DisplayName        string            `json:"displayName"`
	Role               string            `json:"role"`
	Tools              teleconsult.Tools `json:"tools"`
	Language           string            `json:"language"`
	Theme              teleconsult.Theme `json:"theme"`
	CompanyLogo        companyLogo       `json:"companyLogo"`
	Window             sessionWindow     `json:"window"`
	Status             string            `json:"status"`
	Participants       []string          `json:"participants"`
	Join               *joinResponse     `json:"join,omitempty"`
	// WaitingRoom is set with WAITING_ROOM=true only.
	WaitingRoom *waitingRoomResponse `json:"waitingRoom,omitempty"`
	// Background is the virtual background the built-in call page
	// applies; absent for none.
	Background *sessionBackground `json:"background,omitempty"`
}

// sessionBackground is the call page's virtual background: blur, or the
// company's image (imageUrl, a path on this service), and whether the
// participant may switch it off.
type sessionBackground struct {
	Mode       string `json:"mode"`
	ImageURL   string `json:"imageUrl,omitempty"`
	CanTurnOff bool   `json:"canTurnOff"`
}

func newSessionBackground(b *teleconsult.CallBackground) *sessionBackground {
	if b == nil {
		return nil
	}
	out := &sessionBackground{Mode: "blur", CanTurnOff: b.Optional}
	if b.Alias != "" {
		out.Mode, out.ImageURL = "image", BackgroundImagePath(b.Alias)
	}
	return out
}

// waitingRoomResponse is the participant's part in the waiting room.
type waitingRoomResponse struct {
	Waits  bool `json:"waits"`
	Admits bool `json:"admits"`
}

type companyLogo struct {
	URL string `json:"url"`
}

type sessionWindow struct {
	OpensAt   string `json:"opensAt"`
	StartDate string `json:"startDate"`
	EndDate   string `json:"endDate"`
	Limited   bool   `json:"limited"`
}

func (s *Server) handleSession(w http.ResponseWriter, r *http.Request) error {
	if ok, wait := s.limiter.allow(clientaddr.Key(clientaddr.Of(r)), s.now()); !ok {
		n := strconv.Itoa(retrySeconds(wait))
		return &httpError{status: http.StatusTooManyRequests,
			msg:    "too many attempts; try again in " + n + " seconds",
			header: map[string]string{"Retry-After": n}}
	}
	body, err := s.readJSON(w, r, true)
	if err != nil {
		return err
	}
	code, opts, err := decodeSession(body)
	if err != nil {
		return err
	}
	cs, err := s.svc.ExchangeIn(r.Context(), code, opts)
	if err != nil {
		return err
	}
	resp := sessionResponse{
		Token:              cs.Token,
		ExpiresAt:          formatTime(cs.ExpiresAt),
		TeleconsultationID: cs.TeleconsultationID,
		DisplayName:        cs.DisplayName,
		Role:               cs.Role.String(),
		Tools:              cs.Tools,
		Language:           cs.Language,
		Theme:              cs.Theme,
		CompanyLogo:        companyLogo{URL: cs.CompanyLogo},
		Window: sessionWindow{
			OpensAt:   formatTime(cs.Window.Opens),
			StartDate: formatTime(cs.Window.Start),
			EndDate:   formatTime(cs.Window.End),
			Limited:   cs.Window.Limited,
		},
		Status:       cs.Status.String(),
		Participants: append([]string{}, cs.Others...),
		Join:         newJoinResponse(cs.Join),
		Background:   newSessionBackground(cs.Background),
	}
	if s.svc.Settings.WaitingRoom {
		resp.WaitingRoom = &waitingRoomResponse{Waits: cs.Waits, Admits: cs.Admits}
	}
	s.writeJSON(w, r, http.StatusCreated, resp)
	return nil
}

type statusResponse struct {
	Status string `json:"status"`
}

func (s *Server) handleHealth(w http.ResponseWriter, r *http.Request) error {
	s.writeJSON(w, r, http.StatusOK, statusResponse{Status: "ok"})
	return nil
}

func (s *Server) handleReady(w http.ResponseWriter, r *http.Request) error {
	if err := s.svc.Ready(r.Context()); err != nil {
		return err
	}
	s.writeJSON(w, r, http.StatusOK, statusResponse{Status: "ready"})
	return nil
}

func (s *Server) handleMetrics(w http.ResponseWriter, r *http.Request) error {
	s.metrics.handler.ServeHTTP(w, r)
	return nil
}

func (s *Server) handleOpenAPI(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(s.docs.json)))
	if r.Method != http.MethodHead {
		_, _ = w.Write(s.docs.json)
	}
	return nil
}

func (s *Server) handleDocs(w http.ResponseWriter, r *http.Request) error {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", s.docs.csp)
	h.Set("Content-Length", strconv.Itoa(len(s.docs.html)))
	if r.Method != http.MethodHead {
		_, _ = w.Write(s.docs.html)
	}
	return nil
}

// handleLanding serves the page at /: what the service is, and links to the
// device check, the API documentation and the health routes. It holds no
// patient data.
func (s *Server) handleLanding(w http.ResponseWriter, r *http.Request) error {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", s.docs.landingCSP)
	h.Set("Content-Length", strconv.Itoa(len(s.docs.landing)))
	if r.Method != http.MethodHead {
		_, _ = w.Write(s.docs.landing)
	}
	return nil
}
