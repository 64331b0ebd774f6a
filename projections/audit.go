package projections

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/smsledger/smsledger/domain/events"
	"github.com/smsledger/smsledger/eventstore"
)

// AuditEventsMax bounds the events of one message's audit trail.
const AuditEventsMax = 10_000

// ErrMessageNotFound is returned by Audit for a message with no events.
var ErrMessageNotFound = errors.New("message not found")

// AuditEvent is one event of a message's history, as stored.
type AuditEvent struct {
	Version    uint64              `json:"version"`
	Position   eventstore.Position `json:"position"`
	Type       string              `json:"type"`
	RecordedAt time.Time           `json:"recorded_at"`
	Data       json.RawMessage     `json:"data"`
}

// Audit returns the events of a message's stream in order, with their data
// (route candidates and why, price and cost, supplier answers, DLRs, money
// movements). The caller checks which tenant may see it (the first event,
// MessageAccepted, names the tenant).
func Audit(ctx context.Context, store eventstore.Store, messageID uuid.UUID) ([]AuditEvent, error) {
	stream := events.MessageStream(messageID)
	var out []AuditEvent
	from := uint64(0)
	for len(out) < AuditEventsMax {
		recs, err := store.ReadStream(ctx, stream, from, min(1000, AuditEventsMax-len(out)))
		if errors.Is(err, eventstore.ErrStreamNotFound) && len(out) == 0 {
			return nil, fmt.Errorf("audit %s: %w", messageID, ErrMessageNotFound)
		}
		if err != nil {
			return nil, fmt.Errorf("audit %s: %w", messageID, err)
		}
		for _, r := range recs {
			data := json.RawMessage(r.Data)
			if !json.Valid(data) {
				return nil, fmt.Errorf("audit %s: event %d is not JSON", messageID, r.Version)
			}
			out = append(out, AuditEvent{Version: r.Version, Position: r.Position, Type: r.Type, RecordedAt: r.RecordedAt, Data: data})
		}
		if len(recs) < 1000 {
			break
		}
		from = recs[len(recs)-1].Version + 1
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("audit %s: %w", messageID, ErrMessageNotFound)
	}
	return out, nil
}
