package sqlstore

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/teleconsult/teleconsult/internal/teleconsult"
)

// Field names bound to the ciphertexts (Keyring.Seal's additional data) and
// to the blind index.
const (
	fieldFullName     = "participant.full_name"
	fieldEmail        = "participant.email"
	fieldProviderLink = "participant.provider_link"
)

// timeLayout is how SQLite stores times: UTC, fixed width, microseconds.
const timeLayout = "2006-01-02T15:04:05.000000Z07:00"

// live is the SQL predicate of a live teleconsultation; it must match the
// partial unique index teleconsultations_live_appointment.
const live = "state NOT IN ('cancelled', 'replaced')"

// normTime is how times are stored: UTC, truncated to microseconds.
func normTime(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC().Truncate(time.Microsecond)
}

// timeArg returns a time as a query argument: normalised, as text on
// SQLite. Zero times are stored as zero (NOT NULL columns) or, when
// nullable, as NULL.
func (db *DB) timeArg(t time.Time, nullable bool) any {
	t = normTime(t)
	if nullable && t.IsZero() {
		return nil
	}
	if db.dialect == DialectSQLite {
		return t.Format(timeLayout)
	}
	return t
}

// timeCol scans a time column of either dialect; NULL is the zero time.
type timeCol struct{ t *time.Time }

func (c timeCol) Scan(v any) error {
	var err error
	switch x := v.(type) {
	case nil:
		*c.t = time.Time{}
	case time.Time:
		*c.t = normTime(x)
	case string:
		*c.t, err = time.Parse(timeLayout, x)
	case []byte:
		*c.t, err = time.Parse(timeLayout, string(x))
	default:
		err = fmt.Errorf("unexpected type %T for a time", v)
	}
	if err == nil && c.t.IsZero() {
		*c.t = time.Time{}
	}
	return err
}

// nullStr maps "" to NULL.
func nullStr(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// nullBytes maps an empty slice to NULL.
func nullBytes(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return b
}

// placeholders returns "($k+1, ..., $k+n)" for numbered parameters.
func placeholders(b *strings.Builder, k, n int) {
	b.WriteByte('(')
	for i := 1; i <= n; i++ {
		if i > 1 {
			b.WriteString(", ")
		}
		b.WriteByte('$')
		b.WriteString(strconv.Itoa(k + i))
	}
	b.WriteByte(')')
}

const tcColumns = `id, appointment_id, start_date, end_date, expected_participants, provider,
	provider_room_id, state, version, room_revision, replaced_by, created_at, updated_at,
	call_started_at, call_used_us, provider_room_url, calendar_sequence, call_ended_at,
	call_first_started_at`

const participantColumns = `teleconsultation_id, ordinal, user_id, groups_json, full_name, email,
	email_blind, language, time_zone, role, provider_user_id, link_nonce, link_hash, removed_at,
	provider_link, invited`

const nParticipantColumns = 16

// Positions in participantColumns, and so in participantArgs, of the
// columns Apply reads and rewrites.
var (
	participantUserIDColumn         = columnIndex(participantColumns, "user_id")
	participantProviderUserIDColumn = columnIndex(participantColumns, "provider_user_id")
)

// columnIndex returns the position of name in the comma-separated list
// cols; it panics when name is not there (a programming error found when
// the package loads).
func columnIndex(cols, name string) int {
	for i, c := range strings.Split(cols, ",") {
		if strings.TrimSpace(c) == name {
			return i
		}
	}
	panic("sqlstore: no column " + name + " in " + cols)
}

// tcArgs returns the values of tcColumns for tc, stored at version.
func (db *DB) tcArgs(tc *teleconsult.Teleconsultation, version int) []any {
	return []any{
		tc.ID, nullStr(tc.AppointmentID), db.timeArg(tc.StartDate, false), db.timeArg(tc.EndDate, false),
		tc.ExpectedParticipants, tc.Provider, tc.ProviderRoomID, tc.State.String(), version,
		tc.RoomRevision, nullStr(tc.ReplacedBy), db.timeArg(tc.CreatedAt, false),
		db.timeArg(tc.UpdatedAt, false), db.timeArg(tc.CallStartedAt, true),
		tc.CallUsed.Microseconds(), tc.ProviderRoomURL, tc.CalendarSequence,
		db.timeArg(tc.CallEndedAt, true), db.timeArg(tc.CallFirstStartedAt, true),
	}
}

// participantArgs returns the values of participantColumns for p, the
// ordinal-th participant of tc, but for provider_user_id (index 10), which
// the user-id map decides. This is where patient data is encrypted.
func (db *DB) participantArgs(tc *teleconsult.Teleconsultation, ordinal int, p *teleconsult.Participant) ([]any, error) {
	groups := p.Groups
	if groups == nil {
		groups = []string{}
	}
	gj, err := json.Marshal(groups)
	if err != nil {
		return nil, err
	}
	var blind []byte
	if p.Email != "" {
		blind = db.keys.Blind(fieldEmail, strings.ToLower(p.Email))
	}
	return []any{
		tc.ID, ordinal, p.UserID, string(gj),
		nullBytes(db.keys.Seal(fieldFullName, []byte(p.FullName))),
		nullBytes(db.keys.Seal(fieldEmail, []byte(p.Email))),
		nullBytes(blind), p.Language, p.TimeZone, p.Role.String(), p.ProviderUserID,
		nullBytes(p.LinkNonce), nullBytes(p.LinkHash), db.timeArg(p.RemovedAt, true),
		nullBytes(db.keys.Seal(fieldProviderLink, []byte(p.ProviderLink))), p.Invited,
	}, nil
}

// userKey is one entry of the user-id map.
type userKey struct{ provider, userID string }

// Apply writes a change atomically, in one transaction with one commit:
// updates first (compare-and-swap on Version), then creates, then the
// user-id map, then the participants of every written teleconsultation
// (rewritten as a whole), then the outbox messages (whose IDs it sets). For every participant the user-id map entry
// (tc.Provider, UserID) is inserted with its ProviderUserID unless it exists;
// the mapped value is stored. A participant without ProviderUserID gets the
// mapped one if there is one.
//
// On success, and only then, Apply sets the written structs to what was
// stored: Version (1 for creates, +1 for updates), ProviderUserID from the
// user-id map, and times in UTC truncated to microseconds.
//
// Errors: ECONFLICT when a teleconsultation was changed concurrently, when
// a second live teleconsultation would have the same AppointmentID, or on
// another uniqueness violation (ids, link hashes); ENOTFOUND when an updated
// teleconsultation does not exist. Nothing is written then.
func (db *DB) Apply(ctx context.Context, ch teleconsult.Change) error {
	defer db.observe(opApply, time.Now())
	type write struct {
		tc     *teleconsult.Teleconsultation
		create bool
		args   []any   // tcColumns
		parts  [][]any // participantColumns, one per participant
	}
	// Updates before creates, so that a create may take over the
	// appointment of a teleconsultation that the same change replaces.
	// Updates in id order, so that two changes cannot deadlock on them.
	updates := slices.Clone(ch.Update)
	slices.SortStableFunc(updates, func(a, b *teleconsult.Teleconsultation) int { return cmp.Compare(a.ID, b.ID) })
	var writes []write
	want := map[userKey]string{} // candidate provider user ids
	// Encrypt and encode before the transaction: it holds the write lock.
	for i, list := range [][]*teleconsult.Teleconsultation{updates, ch.Create} {
		create := i == 1
		for _, tc := range list {
			if tc == nil {
				return teleconsult.Errorf(teleconsult.EINTERNAL, "sqlstore: nil teleconsultation in a change")
			}
			if tc.ID == "" {
				return teleconsult.Errorf(teleconsult.EINTERNAL, "sqlstore: teleconsultation without id")
			}
			if !tc.State.Stored() {
				return teleconsult.Errorf(teleconsult.EINTERNAL, "sqlstore: teleconsultation %s: state %s is not stored", tc.ID, tc.State)
			}
			version := 1
			if !create {
				version = tc.Version + 1
			}
			w := write{tc: tc, create: create, args: db.tcArgs(tc, version)}
			for j := range tc.Participants {
				p := &tc.Participants[j]
				if p.UserID == "" {
					return teleconsult.Errorf(teleconsult.EINTERNAL, "sqlstore: teleconsultation %s: participant %d has no user id", tc.ID, j)
				}
				args, err := db.participantArgs(tc, j, p)
				if err != nil {
					return &teleconsult.Error{Code: teleconsult.EINTERNAL, Message: "database error",
						Err: fmt.Errorf("sqlstore: teleconsultation %s: encoding participant %d: %w", tc.ID, j, err)}
				}
				w.parts = append(w.parts, args)
				k := userKey{tc.Provider, p.UserID}
				if _, ok := want[k]; !ok || want[k] == "" {
					want[k] = p.ProviderUserID
				}
			}
			writes = append(writes, w)
		}
	}
	if len(writes) == 0 && len(ch.Outbox) == 0 && len(ch.Webhooks) == 0 && len(ch.Audit) == 0 {
		return nil
	}
	if err := teleconsult.CheckAuditEntries(ch.Audit); err != nil {
		return err
	}
	var audit *auditStmts
	if len(ch.Audit) > 0 {
		// Before the transaction: on SQLite it holds the only writer.
		var err error
		if audit, err = db.auditPrepared(ctx); err != nil {
			return err
		}
	}
	outbox, err := db.outboxArgs(ch.Outbox)
	if err != nil {
		return err
	}
	hooks, err := db.hookArgs(ch.Webhooks)
	if err != nil {
		return err
	}
	hookIDs := make([]int64, len(hooks))

	var mapped map[userKey]string
	ids := make([]int64, len(outbox))
	err = db.inWriteTx(ctx, "apply", func(tx *sql.Tx) error {
		for _, w := range writes {
			if w.create {
				continue
			}
			if err := db.casUpdate(ctx, tx, w.tc, w.args); err != nil {
				return err
			}
		}
		for _, w := range writes {
			if !w.create {
				continue
			}
			_, err := tx.ExecContext(ctx, "INSERT INTO teleconsultations ("+tcColumns+") VALUES "+
				"($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)", w.args...)
			if isUniqueViolation(err) {
				return &teleconsult.Error{Code: teleconsult.ECONFLICT,
					Message: fmt.Sprintf("teleconsultation %s cannot be created: its appointment already has a live teleconsultation (or its id is taken); retry", w.tc.ID),
					Err:     err}
			} else if err != nil {
				return err
			}
		}
		var err error
		if mapped, err = db.ensureUsers(ctx, tx, want); err != nil {
			return err
		}
		for _, w := range writes {
			if !w.create {
				if _, err := tx.ExecContext(ctx, "DELETE FROM participants WHERE teleconsultation_id = $1", w.tc.ID); err != nil {
					return err
				}
			}
			if len(w.parts) == 0 {
				continue
			}
			var b strings.Builder
			b.WriteString("INSERT INTO participants (" + participantColumns + ") VALUES ")
			args := make([]any, 0, len(w.parts)*nParticipantColumns)
			for j, pa := range w.parts {
				if j > 0 {
					b.WriteString(", ")
				}
				placeholders(&b, len(args), nParticipantColumns)
				pa[participantProviderUserIDColumn] = mapped[userKey{w.tc.Provider, pa[participantUserIDColumn].(string)}]
				args = append(args, pa...)
			}
			_, err := tx.ExecContext(ctx, b.String(), args...)
			if isUniqueViolation(err) {
				return &teleconsult.Error{Code: teleconsult.ECONFLICT,
					Message: fmt.Sprintf("teleconsultation %s: a participant's user id or personal link is already stored", w.tc.ID),
					Err:     err}
			} else if err != nil {
				return err
			}
		}
		if err := db.insertOutbox(ctx, tx, outbox, ids); err != nil {
			return err
		}
		if err := db.insertHooks(ctx, tx, hooks, hookIDs); err != nil {
			return err
		}
		// Last: on PostgreSQL the audit chain's lock is held the
		// shortest time.
		return db.appendAudit(ctx, tx, audit, ch.Audit)
	})
	if err != nil {
		// The commit may have happened (an error after COMMIT): forget
		// what the cache holds of these teleconsultations.
		ids := make([]string, len(writes))
		for i, w := range writes {
			ids[i] = w.tc.ID
		}
		db.cache.forget(ids)
		return err
	}

	// Committed: make the structs what was stored.
	for _, w := range writes {
		tc := w.tc
		if w.create {
			tc.Version = 1
		} else {
			tc.Version++
		}
		tc.StartDate, tc.EndDate = normTime(tc.StartDate), normTime(tc.EndDate)
		tc.CreatedAt, tc.UpdatedAt = normTime(tc.CreatedAt), normTime(tc.UpdatedAt)
		tc.CallStartedAt, tc.CallEndedAt = normTime(tc.CallStartedAt), normTime(tc.CallEndedAt)
		tc.CallFirstStartedAt = normTime(tc.CallFirstStartedAt)
		tc.CallUsed = tc.CallUsed.Truncate(time.Microsecond)
		for j := range tc.Participants {
			p := &tc.Participants[j]
			p.RemovedAt = normTime(p.RemovedAt)
			p.ProviderUserID = mapped[userKey{tc.Provider, p.UserID}]
		}
	}
	for i := range ch.Outbox {
		ch.Outbox[i].ID = ids[i]
	}
	for i := range ch.Webhooks {
		ch.Webhooks[i].ID = hookIDs[i]
	}
	stored := make([]*teleconsult.Teleconsultation, len(writes))
	for i, w := range writes {
		stored[i] = w.tc
	}
	db.cache.committed(stored)
	return nil
}

// casUpdate writes an updated teleconsultation if its stored version is
// still tc.Version.
func (db *DB) casUpdate(ctx context.Context, tx *sql.Tx, tc *teleconsult.Teleconsultation, args []any) error {
	res, err := tx.ExecContext(ctx, `UPDATE teleconsultations SET appointment_id = $2, start_date = $3,
		end_date = $4, expected_participants = $5, provider = $6, provider_room_id = $7, state = $8,
		version = $9, room_revision = $10, replaced_by = $11, created_at = $12, updated_at = $13,
		call_started_at = $14, call_used_us = $15, provider_room_url = $16, calendar_sequence = $17,
		call_ended_at = $18, call_first_started_at = $19
		WHERE id = $1 AND version = $20`, append(args, tc.Version)...)
	if isUniqueViolation(err) {
		return &teleconsult.Error{Code: teleconsult.ECONFLICT,
			Message: fmt.Sprintf("teleconsultation %s cannot be updated: its appointment already has another live teleconsultation", tc.ID),
			Err:     err}
	} else if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 1 {
		return nil
	}
	var one int
	err = tx.QueryRowContext(ctx, "SELECT 1 FROM teleconsultations WHERE id = $1", tc.ID).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return teleconsult.Errorf(teleconsult.ENOTFOUND, "teleconsultation %s not found", tc.ID)
	} else if err != nil {
		return err
	}
	return teleconsult.Errorf(teleconsult.ECONFLICT, "teleconsultation %s was changed concurrently; retry", tc.ID)
}

// ensureUsers inserts the user-id map entries of want that are missing (an
// empty candidate is never inserted) and returns the mapped values of all
// of them; an entry that is neither mapped nor has a candidate maps to "".
// Keys are handled in sorted order so that concurrent transactions cannot
// deadlock on them.
func (db *DB) ensureUsers(ctx context.Context, tx *sql.Tx, want map[userKey]string) (map[userKey]string, error) {
	keys := make([]userKey, 0, len(want))
	for k := range want {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b userKey) int {
		return cmp.Or(cmp.Compare(a.provider, b.provider), cmp.Compare(a.userID, b.userID))
	})
	now := db.timeArg(time.Now(), false)
	const batch = 200 // rows per statement: 4 parameters each
	var ins []any
	var b strings.Builder
	flush := func() error {
		if len(ins) == 0 {
			return nil
		}
		// b holds only placeholders ($1, $2, ...) that this function
		// wrote: the values travel as parameters.
		_, err := tx.ExecContext(ctx, "INSERT INTO user_map (provider, user_id, provider_user_id, created_at) VALUES "+ //nolint:gosec // G202: see above
			b.String()+" ON CONFLICT (provider, user_id) DO NOTHING", ins...)
		ins = ins[:0]
		b.Reset()
		return err
	}
	for _, k := range keys {
		if want[k] == "" {
			continue
		}
		if len(ins) > 0 {
			b.WriteString(", ")
		}
		placeholders(&b, len(ins), 4)
		ins = append(ins, k.provider, k.userID, want[k], now)
		if len(ins) == 4*batch {
			if err := flush(); err != nil {
				return nil, err
			}
		}
	}
	if err := flush(); err != nil {
		return nil, err
	}
	mapped := make(map[userKey]string, len(keys))
	for i := 0; i < len(keys); {
		// One provider per query.
		j := i + 1
		for j < len(keys) && j-i < batch && keys[j].provider == keys[i].provider {
			j++
		}
		ids := make([]string, 0, j-i)
		for _, k := range keys[i:j] {
			ids = append(ids, k.userID)
		}
		got, err := providerUsers(ctx, tx, keys[i].provider, ids)
		if err != nil {
			return nil, err
		}
		for _, k := range keys[i:j] {
			mapped[k] = got[k.userID]
		}
		i = j
	}
	return mapped, nil
}

// querier is what *sql.DB and *sql.Tx have in common.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// providerUsers reads the user-id map entries of provider for userIDs.
func providerUsers(ctx context.Context, q querier, provider string, userIDs []string) (map[string]string, error) {
	out := make(map[string]string, len(userIDs))
	const batch = 500
	for len(userIDs) > 0 {
		n := min(len(userIDs), batch)
		var b strings.Builder
		b.WriteString("SELECT user_id, provider_user_id FROM user_map WHERE provider = $1 AND user_id IN ")
		args := []any{provider}
		b.WriteByte('(')
		for i, id := range userIDs[:n] {
			if i > 0 {
				b.WriteString(", ")
			}
			args = append(args, id)
			b.WriteString("$" + strconv.Itoa(len(args)))
		}
		b.WriteByte(')')
		rows, err := q.QueryContext(ctx, b.String(), args...)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var u, p string
			if err := rows.Scan(&u, &p); err != nil {
				_ = rows.Close() // the Scan error is the one to report
				return nil, err
			}
			out[u] = p
		}
		if err := rows.Close(); err != nil {
			return nil, err
		}
		if err := rows.Err(); err != nil {
			return nil, err
		}
		userIDs = userIDs[n:]
	}
	return out, nil
}

// inWriteTx runs fn in a write transaction and commits it. An error of fn
// rolls everything back; application errors (*teleconsult.Error) pass
// through, driver errors are wrapped by dbErr (PostgreSQL deadlocks and
// serialization failures become ECONFLICT).
func (db *DB) inWriteTx(ctx context.Context, op string, fn func(tx *sql.Tx) error) error {
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return dbErr(op, err)
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return txErr(op, err)
	}
	if err := tx.Commit(); err != nil {
		return txErr(op, err)
	}
	return nil
}

func txErr(op string, err error) error {
	var te *teleconsult.Error
	switch {
	case errors.As(err, &te):
		return err
	case isConcurrencyFailure(err):
		return &teleconsult.Error{Code: teleconsult.ECONFLICT, Message: "the change collided with a concurrent one; retry", Err: err}
	}
	return dbErr(op, err)
}

// FindByID returns the teleconsultation with id and all its participants,
// or ENOTFOUND.
func (db *DB) FindByID(ctx context.Context, id string) (*teleconsult.Teleconsultation, error) {
	defer db.observe(opFindByID, time.Now())
	tc, gen := db.cache.get(id)
	if tc != nil {
		return tc, nil
	}
	tc, err := db.load(ctx, "t.id = $1", id)
	if tc == nil && err == nil {
		return nil, teleconsult.Errorf(teleconsult.ENOTFOUND, "teleconsultation %s not found", id)
	}
	if err == nil {
		db.cache.put(tc, gen)
	}
	return tc, err
}

// FindByAppointment returns the live (neither cancelled nor replaced)
// teleconsultation of an appointment, or ENOTFOUND.
func (db *DB) FindByAppointment(ctx context.Context, appointmentID string) (*teleconsult.Teleconsultation, error) {
	defer db.observe(opFindByAppointment, time.Now())
	var tc *teleconsult.Teleconsultation
	var err error
	if appointmentID != "" {
		tc, err = db.load(ctx, "t.appointment_id = $1 AND t."+live, appointmentID)
	}
	if tc == nil && err == nil {
		return nil, teleconsult.Errorf(teleconsult.ENOTFOUND, "no live teleconsultation for this appointment")
	}
	return tc, err
}

// FindByLinkHash returns the teleconsultation with a participant (removed
// ones included) whose LinkHash is hash, or ENOTFOUND.
func (db *DB) FindByLinkHash(ctx context.Context, hash []byte) (*teleconsult.Teleconsultation, error) {
	defer db.observe(opFindByLinkHash, time.Now())
	var tc *teleconsult.Teleconsultation
	var err error
	if len(hash) > 0 {
		tc, err = db.load(ctx, "t.id = (SELECT teleconsultation_id FROM participants WHERE link_hash = $1)", hash)
	}
	if tc == nil && err == nil {
		return nil, teleconsult.Errorf(teleconsult.ENOTFOUND, "no participant has this link")
	}
	return tc, err
}

// load reads the teleconsultation selected by where (on alias t, one
// argument) with its participants in order, in one statement so that they
// come from one snapshot. It returns nil, nil if there is none.
func (db *DB) load(ctx context.Context, where string, arg any) (*teleconsult.Teleconsultation, error) {
	stmt, err := db.prepared(ctx, `SELECT t.id, t.appointment_id, t.start_date, t.end_date,
		t.expected_participants, t.provider, t.provider_room_id, t.state, t.version, t.room_revision,
		t.replaced_by, t.created_at, t.updated_at, t.call_started_at, t.call_used_us, t.provider_room_url, t.calendar_sequence,
		t.call_ended_at, t.call_first_started_at, p.ordinal, p.user_id, p.groups_json, p.full_name, p.email, p.language, p.time_zone, p.role,
		p.provider_user_id, p.link_nonce, p.link_hash, p.removed_at, p.provider_link, p.invited
		FROM teleconsultations t LEFT JOIN participants p ON p.teleconsultation_id = t.id
		WHERE `+where+` ORDER BY p.ordinal`)
	if err != nil {
		return nil, dbErr("load", err)
	}
	rows, err := stmt.QueryContext(ctx, arg)
	if err != nil {
		return nil, dbErr("load", err)
	}
	defer rows.Close()
	var tc *teleconsult.Teleconsultation
	for rows.Next() {
		var (
			t                                   teleconsult.Teleconsultation
			appointment, replacedBy, state      sql.Null[string]
			usedUS                              int64
			ordinal                             sql.Null[int64]
			userID, groups, lang, tz, role, pid sql.Null[string]
			name, email, nonce, hash, plink     []byte
			p                                   teleconsult.Participant
			invited                             sql.Null[bool]
		)
		if err := rows.Scan(&t.ID, &appointment, timeCol{&t.StartDate}, timeCol{&t.EndDate},
			&t.ExpectedParticipants, &t.Provider, &t.ProviderRoomID, &state, &t.Version, &t.RoomRevision,
			&replacedBy, timeCol{&t.CreatedAt}, timeCol{&t.UpdatedAt}, timeCol{&t.CallStartedAt}, &usedUS,
			&t.ProviderRoomURL, &t.CalendarSequence, timeCol{&t.CallEndedAt}, timeCol{&t.CallFirstStartedAt},
			&ordinal, &userID, &groups, &name, &email, &lang, &tz, &role, &pid, &nonce, &hash,
			timeCol{&p.RemovedAt}, &plink, &invited); err != nil {
			return nil, dbErr("load", err)
		}
		if tc == nil {
			t.AppointmentID = appointment.V
			t.ReplacedBy = replacedBy.V
			t.State = teleconsult.ParseState(state.V)
			t.CallUsed = time.Duration(usedUS) * time.Microsecond
			tc = &t
		}
		if !ordinal.Valid {
			continue // no participants
		}
		p.UserID, p.Language, p.TimeZone = userID.V, lang.V, tz.V
		p.Role = teleconsult.ParseRole(role.V)
		p.ProviderUserID = pid.V
		p.Invited = invited.V
		if len(nonce) > 0 {
			p.LinkNonce = nonce
		}
		if len(hash) > 0 {
			p.LinkHash = hash
		}
		if err := json.Unmarshal([]byte(groups.V), &p.Groups); err != nil {
			return nil, &teleconsult.Error{Code: teleconsult.EINTERNAL, Message: "database error",
				Err: fmt.Errorf("sqlstore: teleconsultation %s: participant %d: bad groups: %w", tc.ID, ordinal.V, err)}
		}
		if len(p.Groups) == 0 {
			p.Groups = nil
		}
		fn, err1 := db.keys.Open(fieldFullName, name)
		em, err2 := db.keys.Open(fieldEmail, email)
		pl, err3 := db.keys.Open(fieldProviderLink, plink)
		if err := errors.Join(err1, err2, err3); err != nil {
			return nil, &teleconsult.Error{Code: teleconsult.EINTERNAL,
				Message: "cannot decrypt participant data: the ENCRYPTION_KEY does not match the one the database was written with (or the data was altered)",
				Err:     fmt.Errorf("sqlstore: teleconsultation %s: participant %d: %w", tc.ID, ordinal.V, err)}
		}
		p.FullName, p.Email, p.ProviderLink = string(fn), string(em), string(pl)
		tc.Participants = append(tc.Participants, p)
	}
	if err := rows.Err(); err != nil {
		return nil, dbErr("load", err)
	}
	return tc, nil
}

// ProviderUsers returns the mapped provider user ids of the given external
// user ids; unmapped ones are absent from the map.
func (db *DB) ProviderUsers(ctx context.Context, provider string, userIDs []string) (map[string]string, error) {
	defer db.observe(opProviderUsers, time.Now())
	m, err := providerUsers(ctx, db.r, provider, userIDs)
	if err != nil {
		return nil, dbErr("provider users", err)
	}
	return m, nil
}

// EnsureProviderUser maps userID to candidate unless it is mapped already,
// and returns the mapped id.
func (db *DB) EnsureProviderUser(ctx context.Context, provider, userID, candidate string) (string, error) {
	defer db.observe(opEnsureProviderUser, time.Now())
	if userID == "" || candidate == "" {
		return "", teleconsult.Errorf(teleconsult.EINTERNAL, "sqlstore: EnsureProviderUser needs a user id and a candidate")
	}
	k := userKey{provider, userID}
	var mapped map[userKey]string
	err := db.inWriteTx(ctx, "ensure provider user", func(tx *sql.Tx) error {
		var err error
		mapped, err = db.ensureUsers(ctx, tx, map[userKey]string{k: candidate})
		return err
	})
	if err != nil {
		return "", err
	}
	return mapped[k], nil
}

// CountByState counts teleconsultations by stored state.
func (db *DB) CountByState(ctx context.Context) (map[teleconsult.State]int, error) {
	defer db.observe(opCountByState, time.Now())
	rows, err := db.r.QueryContext(ctx, "SELECT state, count(*) FROM teleconsultations GROUP BY state")
	if err != nil {
		return nil, dbErr("count by state", err)
	}
	defer rows.Close()
	out := map[teleconsult.State]int{}
	for rows.Next() {
		var s string
		var n int
		if err := rows.Scan(&s, &n); err != nil {
			return nil, dbErr("count by state", err)
		}
		out[teleconsult.ParseState(s)] += n
	}
	if err := rows.Err(); err != nil {
		return nil, dbErr("count by state", err)
	}
	return out, nil
}

// KnownUser reports whether userID is an active participant of a
// teleconsultation that is neither cancelled nor replaced (index
// participants_user_active, migration 00005).
func (db *DB) KnownUser(ctx context.Context, userID string) (bool, error) {
	stmt, err := db.prepared(ctx, `SELECT EXISTS (SELECT 1 FROM participants p
		JOIN teleconsultations t ON t.id = p.teleconsultation_id
		WHERE p.user_id = $1 AND p.removed_at IS NULL AND t.state NOT IN ('cancelled', 'replaced'))`)
	if err != nil {
		return false, dbErr("known user", err)
	}
	var known bool
	if err := stmt.QueryRowContext(ctx, userID).Scan(&known); err != nil {
		return false, dbErr("known user", err)
	}
	return known, nil
}
