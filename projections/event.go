package projections

import (
	"encoding/json"
	"fmt"
	"reflect"
	"runtime"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/smsledger/smsledger/domain/events"
	"github.com/smsledger/smsledger/eventstore"
	"github.com/smsledger/smsledger/internal/fastjson"
)

// Event is one decoded event of the global log.
//
// For the high-volume traffic and money types, Data carries only the
// members the projectors read (see slimDecoders): e.g. a RouteSelected
// without its Candidates, a MessageAccepted without its Text. Every other
// type is decoded in full by events.Decode.
type Event struct {
	Position   eventstore.Position
	Stream     string
	Type       string
	RecordedAt time.Time
	Data       events.Event
}

// decodeMinParallel is the batch size from which decoding is spread over
// several goroutines.
const decodeMinParallel = 512

// decode decodes a batch of recorded events, in parallel for large batches.
// An event that does not decode is an error: projections never skip one.
func decode(recs []eventstore.RecordedEvent) ([]Event, error) {
	out := make([]Event, len(recs))
	workers := min(runtime.GOMAXPROCS(0), 4)
	if len(recs) < decodeMinParallel || workers < 2 {
		return out, decodeRange(recs, out)
	}
	chunk := (len(recs) + workers - 1) / workers
	var wg sync.WaitGroup
	errs := make([]error, workers)
	for w := 0; w < workers; w++ {
		lo, hi := w*chunk, min((w+1)*chunk, len(recs))
		if lo >= hi {
			break
		}
		wg.Add(1)
		go func(w, lo, hi int) {
			defer wg.Done()
			errs[w] = decodeRange(recs[lo:hi], out[lo:hi])
		}(w, lo, hi)
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

func decodeRange(recs []eventstore.RecordedEvent, out []Event) error {
	for i := range recs {
		r := &recs[i]
		e, err := decodeData(r.Type, r.Data)
		if err != nil {
			return fmt.Errorf("decode event at position %d (%s in %s): %w", r.Position, r.Type, r.Stream, err)
		}
		out[i] = Event{Position: r.Position, Stream: r.Stream, Type: r.Type, RecordedAt: r.RecordedAt, Data: e}
	}
	return nil
}

// decodeData decodes one event's data. The high-volume types go through a
// slim decoder: ONE json.Unmarshal pass (events.Decode makes two: the schema
// member, then the struct) into only the members the projectors read, which
// skips allocating the rest (route candidates, message text). It is used
// only when the data carries the catalogue's current schema version and
// that version is the one the slim decoder was written for; anything else
// (older versions needing an upcast, malformed data, unknown types) goes
// through events.Decode, so errors and upcasts are the catalogue's.
func decodeData(typ string, data []byte) (events.Event, error) {
	if d, ok := slimDecoders[typ]; ok && d.enabled && len(data) <= events.MaxDataBytes {
		e, schema, err := d.decode(data)
		if err == nil && schema != nil && *schema == d.version {
			return e, nil
		}
	}
	return events.Decode(typ, data)
}

type slimDecoder struct {
	version int // the schema version the decoder was written for
	enabled bool
	decode  func(data []byte) (e events.Event, schema *int, err error)
}

// slim decodes data into T (a struct with a Schema member and the event's
// members the projectors read) and converts it to the catalogue type.
//
// It first tries the fast path (internal/fastjson), which gives up on anything
// but the plain shapes events.Encode writes; encoding/json decodes the rest.
func slim[T any](conv func(*T) events.Event, schema func(*T) *int) slimDecoder {
	fast := fastjson.New(reflect.TypeFor[T]())
	return slimDecoder{version: 1, decode: func(data []byte) (events.Event, *int, error) {
		var v T
		if fast.Decode(data, &v) {
			if fastHook != nil {
				fastHook()
			}
		} else {
			v = *new(T)
			if err := json.Unmarshal(data, &v); err != nil {
				return nil, nil, err
			}
		}
		return conv(&v), schema(&v), nil
	}}
}

// fastHook, if set, runs when the fast path decoded an event (tests).
var fastHook func()

// Slim shapes. Embedding a catalogue struct keeps all its members (for the
// small flat events); the others list the members the projectors read.
type (
	schemaOf struct {
		Schema *int `json:"schema"`
	}
	slimMessageAccepted struct {
		schemaOf
		MessageID    uuid.UUID       `json:"message_id"`
		TenantID     string          `json:"tenant_id"`
		Channel      string          `json:"channel"`
		From         string          `json:"from"`
		To           string          `json:"to"`
		Encoding     string          `json:"encoding"`
		Parts        int             `json:"parts"`
		RatePrefix   string          `json:"rate_prefix"`
		PricePerPart decimal.Decimal `json:"price_per_part"`
		Price        decimal.Decimal `json:"price"`
		Currency     string          `json:"currency"`
		Billing      string          `json:"billing"`
		ExpiresAt    time.Time       `json:"expires_at,omitzero"`
		At           time.Time       `json:"at"`
	}
	slimRouteSelected struct {
		schemaOf
		MessageID   uuid.UUID `json:"message_id"`
		RoutePrefix string    `json:"route_prefix"`
		Winner      string    `json:"winner"`
		At          time.Time `json:"at"`
	}
	slimSubmitted struct {
		schemaOf
		events.SubmittedToSupplier
	}
	slimSupplierAccepted struct {
		schemaOf
		events.SupplierAccepted
	}
	slimSupplierRejected struct {
		schemaOf
		events.SupplierRejected
	}
	slimSupplierTimedOut struct {
		schemaOf
		events.SupplierTimedOut
	}
	slimFailedOver struct {
		schemaOf
		MessageID      uuid.UUID `json:"message_id"`
		FromSupplierID string    `json:"from_supplier_id"`
		ToSupplierID   string    `json:"to_supplier_id"`
		At             time.Time `json:"at"`
	}
	slimDeliveryReported struct {
		schemaOf
		events.DeliveryReported
	}
	slimDeliveryForwarded struct {
		schemaOf
		MessageID uuid.UUID `json:"message_id"`
		At        time.Time `json:"at"`
	}
	slimMessageExpired struct {
		schemaOf
		events.MessageExpired
	}
	slimMessageFailed struct {
		schemaOf
		events.MessageFailed
	}
	slimHeld struct {
		schemaOf
		MessageID uuid.UUID       `json:"message_id"`
		TenantID  string          `json:"tenant_id"`
		Amount    decimal.Decimal `json:"amount"`
	}
	slimSettled struct {
		schemaOf
		events.Settled
	}
	slimReleased struct {
		schemaOf
		MessageID uuid.UUID       `json:"message_id"`
		TenantID  string          `json:"tenant_id"`
		Amount    decimal.Decimal `json:"amount"`
		At        time.Time       `json:"at"`
	}
	slimJournalEntry struct {
		schemaOf
		events.JournalEntryRecorded
	}
)

func (s *schemaOf) schemaPtr() *int { return s.Schema }

// slimDecoders are the one-pass decoders of the high-volume types.
var slimDecoders = map[string]slimDecoder{
	events.TypeMessageAccepted: slim(func(v *slimMessageAccepted) events.Event {
		return events.MessageAccepted{MessageID: v.MessageID, TenantID: v.TenantID, Channel: v.Channel, From: v.From, To: v.To,
			Encoding: v.Encoding, Parts: v.Parts, RatePrefix: v.RatePrefix, PricePerPart: v.PricePerPart, Price: v.Price,
			Currency: v.Currency, Billing: v.Billing, ExpiresAt: v.ExpiresAt, At: v.At}
	}, (*slimMessageAccepted).schemaPtr),
	events.TypeRouteSelected: slim(func(v *slimRouteSelected) events.Event {
		return events.RouteSelected{MessageID: v.MessageID, RoutePrefix: v.RoutePrefix, Winner: v.Winner, At: v.At}
	}, (*slimRouteSelected).schemaPtr),
	events.TypeSubmittedToSupplier: slim(func(v *slimSubmitted) events.Event { return v.SubmittedToSupplier }, (*slimSubmitted).schemaPtr),
	events.TypeSupplierAccepted:    slim(func(v *slimSupplierAccepted) events.Event { return v.SupplierAccepted }, (*slimSupplierAccepted).schemaPtr),
	events.TypeSupplierRejected:    slim(func(v *slimSupplierRejected) events.Event { return v.SupplierRejected }, (*slimSupplierRejected).schemaPtr),
	events.TypeSupplierTimedOut:    slim(func(v *slimSupplierTimedOut) events.Event { return v.SupplierTimedOut }, (*slimSupplierTimedOut).schemaPtr),
	events.TypeFailedOver: slim(func(v *slimFailedOver) events.Event {
		return events.FailedOver{MessageID: v.MessageID, FromSupplierID: v.FromSupplierID, ToSupplierID: v.ToSupplierID, At: v.At}
	}, (*slimFailedOver).schemaPtr),
	events.TypeDeliveryReported: slim(func(v *slimDeliveryReported) events.Event { return v.DeliveryReported }, (*slimDeliveryReported).schemaPtr),
	events.TypeDeliveryForwarded: slim(func(v *slimDeliveryForwarded) events.Event {
		return events.DeliveryForwarded{MessageID: v.MessageID, At: v.At}
	}, (*slimDeliveryForwarded).schemaPtr),
	events.TypeMessageExpired: slim(func(v *slimMessageExpired) events.Event { return v.MessageExpired }, (*slimMessageExpired).schemaPtr),
	events.TypeMessageFailed:  slim(func(v *slimMessageFailed) events.Event { return v.MessageFailed }, (*slimMessageFailed).schemaPtr),
	events.TypeHeld: slim(func(v *slimHeld) events.Event {
		return events.Held{MessageID: v.MessageID, TenantID: v.TenantID, Amount: v.Amount}
	}, (*slimHeld).schemaPtr),
	events.TypeSettled: slim(func(v *slimSettled) events.Event { return v.Settled }, (*slimSettled).schemaPtr),
	events.TypeReleased: slim(func(v *slimReleased) events.Event {
		return events.Released{MessageID: v.MessageID, TenantID: v.TenantID, Amount: v.Amount, At: v.At}
	}, (*slimReleased).schemaPtr),
	events.TypeJournalEntryRecorded: slim(func(v *slimJournalEntry) events.Event { return v.JournalEntryRecorded }, (*slimJournalEntry).schemaPtr),
}

func init() {
	// A slim decoder is only used while the catalogue's current version of
	// its type is the one it was written for (TestSlimDecoders fails when a
	// version is bumped without updating it).
	for typ, d := range slimDecoders {
		v, err := events.SchemaVersion(typ)
		d.enabled = err == nil && v == d.version
		slimDecoders[typ] = d
	}
}
