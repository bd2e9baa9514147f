package teleconsult

import "time"

// OutboxCount is one group of [OutboxStore.OutboxStats]: the messages of
// one kind in one delivery status.
type OutboxCount struct {
	Kind   InvitationKind
	Status DeliveryStatus
	Count  int
	// Oldest is the CreatedAt of the oldest message of the group: for
	// pending messages, how long the oldest has been waiting.
	Oldest time.Time
}
