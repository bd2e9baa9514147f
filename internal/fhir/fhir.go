// Package fhir is the adapter that describes teleconsultations as HL7 FHIR
// R4 resources (https://hl7.org/fhir/R4/): an [Appointment] for the
// booked visit and an [Encounter] for what happened in its calls. It
// serves them to trusted callers ([Handler]: GET /fhir/Appointment/{id}
// and GET /fhir/Encounter/{id}) and sends the Encounter to a FHIR server
// when a call starts or ends ([Target], a receiver of the domain's
// webhook outbox).
//
// R4 has no element for the video room; R5's virtualService is carried
// by the official cross-version extensions of the "Extensions for Using
// Data Elements from FHIR R5 in FHIR R4" package
// (https://hl7.org/fhir/uv/xver-r5.r4/), whose URLs are
// [VirtualServiceAppointment] and [VirtualServiceEncounter]. It names the
// video provider and the number of participants, never an address: every
// participant's link is a personal credential.
//
// Participants are logical references (Reference.identifier) built from
// the booking system's user ids, under [Options.UserSystem]: a
// participant's name is shown (Reference.display) only when
// [Options.Names] says so, and never sent to a FHIR server.
package fhir

import (
	"strconv"
	"time"

	"github.com/teleconsult/teleconsult/internal/teleconsult"
)

// ContentType is the media type of FHIR JSON (R4 http.html#mime-type).
const ContentType = "application/fhir+json"

// The cross-version extensions that carry R5's Appointment.virtualService
// and Encounter.virtualService (VirtualServiceDetail) in R4: complex
// extensions whose sub-extensions are named after the R5 elements.
const (
	VirtualServiceAppointment = "http://hl7.org/fhir/5.0/StructureDefinition/extension-Appointment.virtualService"
	VirtualServiceEncounter   = "http://hl7.org/fhir/5.0/StructureDefinition/extension-Encounter.virtualService"
)

// ChannelSystem is the code system of the virtualService's channelType:
// the video provider's name (sfu, daily, kaleyra). R5's example value set
// (zoom, ms-teams, whatsapp) has no code for them.
const ChannelSystem = "urn:teleconsult:video-provider"

// Defaults of [Options]: identifier systems in this service's own
// namespace, for deployments that have none of their own.
const (
	DefaultUserSystem        = "urn:teleconsult:user-id"
	DefaultAppointmentSystem = "urn:teleconsult:appointment-id"
)

// Terminology used by the mapping.
const (
	actCodeSystem = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
	ucumSystem    = "http://unitsofmeasure.org"
)

// Options decide how teleconsultations are described.
type Options struct {
	// UserSystem is the identifier system of the booking system's user
	// ids (FHIR_USER_ID_SYSTEM); empty means [DefaultUserSystem].
	UserSystem string
	// AppointmentSystem is the identifier system of its appointment ids
	// (FHIR_APPOINTMENT_ID_SYSTEM); empty means [DefaultAppointmentSystem].
	AppointmentSystem string
	// Names shows participants' full names as Reference.display in the
	// answers of [Handler] (FHIR_PARTICIPANT_NAMES). Off by default; the
	// bodies sent to a FHIR server never carry them (the outbox keeps
	// its bodies unencrypted).
	Names bool
}

func (o *Options) userSystem() string {
	if o.UserSystem == "" {
		return DefaultUserSystem
	}
	return o.UserSystem
}

func (o *Options) appointmentSystem() string {
	if o.AppointmentSystem == "" {
		return DefaultAppointmentSystem
	}
	return o.AppointmentSystem
}

// Meta is Resource.meta.
type Meta struct {
	VersionID   string `json:"versionId,omitempty"`
	LastUpdated string `json:"lastUpdated,omitempty"`
}

// Coding is the Coding data type.
type Coding struct {
	System  string `json:"system,omitempty"`
	Code    string `json:"code,omitempty"`
	Display string `json:"display,omitempty"`
}

// CodeableConcept is the CodeableConcept data type.
type CodeableConcept struct {
	Coding []Coding `json:"coding,omitempty"`
	Text   string   `json:"text,omitempty"`
}

// Identifier is the Identifier data type.
type Identifier struct {
	System string `json:"system,omitempty"`
	Value  string `json:"value,omitempty"`
}

// Reference is the Reference data type: literal (Reference.reference),
// logical (Reference.identifier), or both.
type Reference struct {
	Reference  string      `json:"reference,omitempty"`
	Type       string      `json:"type,omitempty"`
	Identifier *Identifier `json:"identifier,omitempty"`
	Display    string      `json:"display,omitempty"`
}

// Period is the Period data type.
type Period struct {
	Start string `json:"start,omitempty"`
	End   string `json:"end,omitempty"`
}

// Duration is the Duration data type (a UCUM quantity of time).
type Duration struct {
	Value  int64  `json:"value"`
	Unit   string `json:"unit"`
	System string `json:"system"`
	Code   string `json:"code"`
}

// Extension is the Extension data type, with the value types used here.
type Extension struct {
	URL              string      `json:"url"`
	Extension        []Extension `json:"extension,omitempty"`
	ValueCoding      *Coding     `json:"valueCoding,omitempty"`
	ValuePositiveInt int         `json:"valuePositiveInt,omitempty"`
}

// AppointmentParticipant is Appointment.participant.
type AppointmentParticipant struct {
	Actor    Reference `json:"actor"`
	Required string    `json:"required"`
	Status   string    `json:"status"`
}

// Appointment is the FHIR R4 Appointment resource, with the elements this
// service fills.
type Appointment struct {
	ResourceType      string                   `json:"resourceType"`
	ID                string                   `json:"id"`
	Meta              *Meta                    `json:"meta,omitempty"`
	Extension         []Extension              `json:"extension,omitempty"`
	Identifier        []Identifier             `json:"identifier,omitempty"`
	Status            string                   `json:"status"`
	CancelationReason *CodeableConcept         `json:"cancelationReason,omitempty"`
	Start             string                   `json:"start"`
	End               string                   `json:"end"`
	MinutesDuration   int                      `json:"minutesDuration"`
	Created           string                   `json:"created,omitempty"`
	Participant       []AppointmentParticipant `json:"participant"`
}

// EncounterParticipant is Encounter.participant.
type EncounterParticipant struct {
	Individual Reference `json:"individual"`
}

// Encounter is the FHIR R4 Encounter resource, with the elements this
// service fills.
type Encounter struct {
	ResourceType string                 `json:"resourceType"`
	ID           string                 `json:"id"`
	Meta         *Meta                  `json:"meta,omitempty"`
	Extension    []Extension            `json:"extension,omitempty"`
	Status       string                 `json:"status"`
	Class        Coding                 `json:"class"`
	Subject      *Reference             `json:"subject,omitempty"`
	Participant  []EncounterParticipant `json:"participant,omitempty"`
	Appointment  []Reference            `json:"appointment,omitempty"`
	Period       *Period                `json:"period,omitempty"`
	Length       *Duration              `json:"length,omitempty"`
}

// instant writes a time as a FHIR instant (and dateTime): UTC with
// milliseconds.
func instant(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(teleconsult.TimeLayout)
}

// called reports whether a call took place in tc.
func called(tc *teleconsult.Teleconsultation) bool {
	return !tc.CallFirstStartedAt.IsZero() || !tc.CallStartedAt.IsZero() || !tc.CallEndedAt.IsZero() || tc.CallUsed > 0
}

// AppointmentStatus maps a teleconsultation's effective state to
// Appointment.status (R4 value set appointmentstatus); called says
// whether a call took place.
func AppointmentStatus(st teleconsult.State, called bool) string {
	switch st {
	case teleconsult.StateWaiting:
		return "pending"
	case teleconsult.StateScheduled, teleconsult.StateOpen:
		return "booked"
	case teleconsult.StateInProgress:
		return "arrived"
	case teleconsult.StateEnded:
		return "fulfilled"
	case teleconsult.StateExpired:
		if called {
			return "fulfilled"
		}
		return "noshow"
	case teleconsult.StateCancelled, teleconsult.StateReplaced:
		return "cancelled"
	}
	return "entered-in-error"
}

// EncounterStatus maps a teleconsultation's effective state to
// Encounter.status (R4 value set encounter-status); called says whether
// a call took place.
func EncounterStatus(st teleconsult.State, called bool) string {
	switch st {
	case teleconsult.StateWaiting, teleconsult.StateScheduled, teleconsult.StateOpen:
		return "planned"
	case teleconsult.StateInProgress:
		return "in-progress"
	case teleconsult.StateEnded:
		return "finished"
	case teleconsult.StateExpired, teleconsult.StateCancelled, teleconsult.StateReplaced:
		if called {
			return "finished"
		}
		return "cancelled"
	}
	return "unknown"
}

// actorType is the resource a participant's reference points to: plus
// participants (who organise the visit) are practitioners, basic ones
// patients.
func actorType(r teleconsult.Role) string {
	if r == teleconsult.RolePlus {
		return "Practitioner"
	}
	return "Patient"
}

// participantRef is the logical reference to p.
func (o *Options) participantRef(p *teleconsult.Participant, typ string, names bool) Reference {
	ref := Reference{Type: typ, Identifier: &Identifier{System: o.userSystem(), Value: p.UserID}}
	if names {
		ref.Display = p.FullName
	}
	return ref
}

// virtualService is the cross-version extension url describing tc's room.
func virtualService(url string, tc *teleconsult.Teleconsultation) Extension {
	ext := Extension{URL: url, Extension: []Extension{
		{URL: "channelType", ValueCoding: &Coding{System: ChannelSystem, Code: tc.Provider}},
	}}
	if tc.ExpectedParticipants > 0 {
		ext.Extension = append(ext.Extension, Extension{URL: "maxParticipants", ValuePositiveInt: tc.ExpectedParticipants})
	}
	return ext
}

// View is how one description is made: the moment, the settings that
// decide the effective state, the version stored, and whether names may
// be shown.
type View struct {
	Now      time.Time
	Settings *teleconsult.Settings
	// Version is the version described (meta.versionId); 0 means
	// tc.Version.
	Version int
	// ForServer describes the resource for a FHIR server rather than for
	// a GET here: no names, and no literal reference to an Appointment
	// that only this service serves.
	ForServer bool
}

func (v *View) version(tc *teleconsult.Teleconsultation) int {
	if v.Version > 0 {
		return v.Version
	}
	return tc.Version
}

func meta(version int, updated time.Time) *Meta {
	return &Meta{VersionID: strconv.Itoa(version), LastUpdated: instant(updated)}
}

// Appointment describes tc as an R4 Appointment.
func (o *Options) Appointment(tc *teleconsult.Teleconsultation, v View) *Appointment {
	st := tc.Status(v.Now, v.Settings)
	a := &Appointment{
		ResourceType: "Appointment", ID: tc.ID, Meta: meta(v.version(tc), tc.UpdatedAt),
		Extension: []Extension{virtualService(VirtualServiceAppointment, tc)},
		Status:    AppointmentStatus(st, called(tc)),
		Start:     instant(tc.StartDate), End: instant(tc.EndDate),
		MinutesDuration: int(tc.EndDate.Sub(tc.StartDate) / time.Minute),
		Created:         instant(tc.CreatedAt),
		Participant:     []AppointmentParticipant{},
	}
	if tc.AppointmentID != "" {
		a.Identifier = []Identifier{{System: o.appointmentSystem(), Value: tc.AppointmentID}}
	}
	if tc.State == teleconsult.StateReplaced {
		a.CancelationReason = &CodeableConcept{Text: "rescheduled: replaced by Appointment/" + tc.ReplacedBy}
	}
	for _, p := range tc.ActiveParticipants() {
		a.Participant = append(a.Participant, AppointmentParticipant{
			Actor:    o.participantRef(p, actorType(p.Role), o.Names && !v.ForServer),
			Required: "required", Status: "accepted",
		})
	}
	return a
}

// Encounter describes the calls of tc as an R4 Encounter.
func (o *Options) Encounter(tc *teleconsult.Teleconsultation, v View) *Encounter {
	st := tc.Status(v.Now, v.Settings)
	e := &Encounter{
		ResourceType: "Encounter", ID: tc.ID, Meta: meta(v.version(tc), tc.UpdatedAt),
		Extension: []Extension{virtualService(VirtualServiceEncounter, tc)},
		Status:    EncounterStatus(st, called(tc)),
		Class:     Coding{System: actCodeSystem, Code: "VR", Display: "virtual"},
	}
	names := o.Names && !v.ForServer
	for _, p := range tc.ActiveParticipants() {
		switch {
		case p.Role == teleconsult.RolePlus:
			e.Participant = append(e.Participant, EncounterParticipant{Individual: o.participantRef(p, "Practitioner", names)})
		case e.Subject == nil:
			ref := o.participantRef(p, "Patient", names)
			e.Subject = &ref
		default:
			// R4's Encounter.participant.individual cannot be a Patient:
			// a further basic participant (a relative, a carer) is a
			// RelatedPerson.
			e.Participant = append(e.Participant, EncounterParticipant{Individual: o.participantRef(p, "RelatedPerson", names)})
		}
	}
	ref := Reference{Reference: "Appointment/" + tc.ID}
	if v.ForServer {
		ref.Reference = ""
	}
	if tc.AppointmentID != "" {
		ref.Type = "Appointment"
		ref.Identifier = &Identifier{System: o.appointmentSystem(), Value: tc.AppointmentID}
	}
	if ref.Reference != "" || ref.Identifier != nil {
		e.Appointment = []Reference{ref}
	}
	if called(tc) {
		first := tc.CallFirstStartedAt
		if first.IsZero() {
			first = tc.CallStartedAt
		}
		p := &Period{Start: instant(first)}
		if tc.State != teleconsult.StateInProgress {
			p.End = instant(tc.CallEndedAt)
		}
		if p.Start != "" || p.End != "" {
			e.Period = p
		}
		e.Length = &Duration{Value: int64(tc.DurationUsed(v.Now) / time.Second), Unit: "s", System: ucumSystem, Code: "s"}
	}
	return e
}
