package sfu

import (
	"context"

	"github.com/teleconsult/teleconsult/internal/teleconsult"
)

// Join implements [teleconsult.VideoProvider.Join]: the built-in call page
// joins the signalling WebSocket with the session token itself, so there
// is nowhere else to go (and no virtual background to give).
func (*Provider) Join(context.Context, *teleconsult.Teleconsultation, *teleconsult.Participant, *teleconsult.Settings, teleconsult.JoinOptions) (*teleconsult.JoinTarget, error) {
	return &teleconsult.JoinTarget{Provider: "builtin"}, nil
}

// DeleteUploads implements [teleconsult.VideoProvider.DeleteUploads]: the
// built-in provider keeps no files itself; the service deletes the uploads
// it stores for built-in calls.
func (*Provider) DeleteUploads(context.Context, *teleconsult.Teleconsultation) (teleconsult.UploadsDeleted, error) {
	return teleconsult.UploadsDeleted{}, nil
}

// UploadAdded implements [teleconsult.CallNotifier]: everyone in the call
// hears of a new upload at once.
func (p *Provider) UploadAdded(teleconsultationID string, u *teleconsult.Upload, uploaderName string) {
	p.Announce(teleconsultationID, map[string]any{
		"type": "upload", "from": u.UploadedBy, "name": uploaderName,
		"file": map[string]any{"id": u.ID, "name": u.Name, "size": u.Size, "contentType": u.ContentType},
	})
}
