package events

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"sync"

	"github.com/smsledger/smsledger/internal/fastjson"
)

// Errors for errors.Is.
var (
	ErrUnknownType    = errors.New("unknown event type")
	ErrUnknownVersion = errors.New("unknown event schema version")
	ErrMalformed      = errors.New("malformed event data")
)

// schemaField is the JSON member carrying the schema version in every
// stored event, written first by Encode.
const schemaField = "schema"

// MaxDataBytes bounds the size of one event's data (a 100,000-line rate
// card is about 5 MB).
const MaxDataBytes = 64 << 20

// registration describes one event type.
type registration struct {
	version int
	// encode appends e's JSON object (json.Marshal's bytes) to dst.
	encode func(dst []byte, e Event) ([]byte, error)
	// decode decodes an object of the current schema version.
	decode func(data []byte) (Event, error)
	// upcast turns data written with an older schema version into the
	// current one; nil while every type is at version 1.
	upcast func(version int, data []byte) ([]byte, error)
}

// reg registers E at version, encoded and decoded by its
// internal/fastjson codec: the one JSON path of the catalogue, whose bytes
// and results are encoding/json's (TestFastEncodeMatchesEncodingJSON,
// TestFastDecodeMatchesEncodingJSON and their fuzz tests).
func reg[E Event](version int) registration {
	c := fastjson.For[E]()
	return registration{
		version: version,
		encode: func(dst []byte, e Event) ([]byte, error) {
			switch v := any(e).(type) {
			case E:
				return c.Append(dst, &v)
			case *E:
				if v != nil {
					return c.Append(dst, v)
				}
			}
			return dst, fmt.Errorf("%T is not a %s", e, reflect.TypeFor[E]())
		},
		decode: func(data []byte) (Event, error) {
			var e E
			if err := c.Unmarshal(data, &e); err != nil {
				return nil, err
			}
			return e, nil
		},
	}
}

// registry maps every type name to its current schema version and decoder.
// Adding an event: add the struct, its Type constant and a line here.
// Changing one incompatibly: bump its version and add an upcast.
var registry = map[string]registration{
	TypeTenantCreated:        reg[TenantCreated](1),
	TypeTenantChanged:        reg[TenantChanged](1),
	TypeSmppCredentialsSet:   reg[SmppCredentialsSet](1),
	TypeApiKeyIssued:         reg[ApiKeyIssued](1),
	TypeTopUpRecorded:        reg[TopUpRecorded](1),
	TypeRateCardChanged:      reg[RateCardChanged](1),
	TypeWebhookSet:           reg[WebhookSet](1),
	TypeWebhookRemoved:       reg[WebhookRemoved](1),
	TypeSupplierCreated:      reg[SupplierCreated](1),
	TypeSupplierChanged:      reg[SupplierChanged](1),
	TypeCostCardChanged:      reg[CostCardChanged](1),
	TypeRouteTableChanged:    reg[RouteTableChanged](1),
	TypeMessageAccepted:      reg[MessageAccepted](1),
	TypeRouteSelected:        reg[RouteSelected](1),
	TypeSubmittedToSupplier:  reg[SubmittedToSupplier](1),
	TypeSupplierAccepted:     reg[SupplierAccepted](1),
	TypeSupplierRejected:     reg[SupplierRejected](1),
	TypeSupplierTimedOut:     reg[SupplierTimedOut](1),
	TypeFailedOver:           reg[FailedOver](1),
	TypeDeliveryReported:     reg[DeliveryReported](1),
	TypeDeliveryForwarded:    reg[DeliveryForwarded](1),
	TypeMessageExpired:       reg[MessageExpired](1),
	TypeMessageFailed:        reg[MessageFailed](1),
	TypeHeld:                 reg[Held](1),
	TypeSettled:              reg[Settled](1),
	TypeReleased:             reg[Released](1),
	TypeJournalEntryRecorded: reg[JournalEntryRecorded](1),
	TypeSupplierCostBooked:   reg[SupplierCostBooked](1),
	TypeApiKeyRevoked:        reg[ApiKeyRevoked](1),
	TypeAdjustmentRecorded:   reg[AdjustmentRecorded](1),
	TypeNumberingPlanChanged: reg[NumberingPlanChanged](1),
	TypePortabilityChanged:   reg[PortabilityChanged](1),
	TypeFXTableChanged:       reg[FXTableChanged](1),
	TypeTenantNumbersChanged: reg[TenantNumbersChanged](1),
	TypeMOReceived:           reg[MOReceived](1),
	TypeMOForwarded:          reg[MOForwarded](1),

	// Controls before a message is accepted.
	TypeTenantControlsChanged: reg[TenantControlsChanged](1),
	TypeGlobalControlsChanged: reg[GlobalControlsChanged](1),
	TypeSubmitRefused:         reg[SubmitRefused](1),

	// A cluster of nodes.
	TypeNodeJoined:         reg[NodeJoined](1),
	TypeNodeTakenOver:      reg[NodeTakenOver](1),
	TypeDispatchHandedOver: reg[DispatchHandedOver](1),
	TypeSubmitWithdrawn:    reg[SubmitWithdrawn](1),
	TypeBudgetLeased:       reg[BudgetLeased](1),
	TypeBudgetReturned:     reg[BudgetReturned](1),
}

// Types returns every registered type name, sorted.
func Types() []string {
	out := make([]string, 0, len(registry))
	for t := range registry {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}

// SchemaVersion returns the current schema version of a type.
func SchemaVersion(eventType string) (int, error) {
	r, ok := registry[eventType]
	if !ok {
		return 0, fmt.Errorf("%q: %w", eventType, ErrUnknownType)
	}
	return r.version, nil
}

// Encode returns the stored type name and JSON data of e. The data is the
// struct's JSON object with the schema version as its first member:
// {"schema":1,"message_id":...}.
func Encode(e Event) (eventType string, data []byte, err error) {
	if e == nil {
		return "", nil, fmt.Errorf("encode nil event: %w", ErrUnknownType)
	}
	eventType = e.EventType()
	r, ok := registry[eventType]
	if !ok {
		return "", nil, fmt.Errorf("encode %q: %w", eventType, ErrUnknownType)
	}
	data, err = r.encodeData(e)
	if err != nil {
		return "", nil, fmt.Errorf("encode %s: %w", eventType, err)
	}
	return eventType, data, nil
}

// encodeBufs holds scratch buffers for encodeData; the data it returns is
// an exact-size copy.
var encodeBufs = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// encodeData writes {"schema":N, then the members of e's JSON object.
func (r registration) encodeData(e Event) ([]byte, error) {
	bp := encodeBufs.Get().(*[]byte)
	buf := append((*bp)[:0], `{"`+schemaField+`":`...)
	buf = strconv.AppendInt(buf, int64(r.version), 10)
	n := len(buf)
	buf, err := r.encode(buf, e)
	var data []byte
	switch {
	case err != nil:
	case len(buf)-n < len("{}") || buf[n] != '{':
		// Every catalogue event is a struct; anything else is a
		// programming error in this package.
		panic(fmt.Sprintf("events: %s does not encode as a JSON object", e.EventType()))
	default:
		// The struct's object {...} follows the schema member: its '{'
		// becomes the ',' between them, or goes if it is empty.
		if len(buf)-n == len("{}") {
			buf = append(buf[:n], '}')
		} else {
			buf[n] = ','
		}
		data = bytes.Clone(buf)
	}
	if cap(buf) <= 64<<10 { // a huge card's buffer is left to the GC
		*bp = buf[:0]
		encodeBufs.Put(bp)
	}
	return data, err
}

// schemaPrefix reads the schema version the way Encode writes it, as the
// first member: {"schema":N, or {"schema":N}. Reading it directly saves a
// second full parse of every event (encoding/json validates the whole
// document even to extract one member); the decode that follows still
// validates everything. Anything else is left to encoding/json.
func schemaPrefix(data []byte) (int, bool) {
	const prefix = `{"` + schemaField + `":`
	if !bytes.HasPrefix(data, []byte(prefix)) {
		return 0, false
	}
	v, i := 0, len(prefix)
	for ; i < len(data) && i < len(prefix)+4 && data[i] >= '0' && data[i] <= '9'; i++ {
		v = v*10 + int(data[i]-'0')
	}
	if i == len(prefix) || i >= len(data) || (data[i] != ',' && data[i] != '}') || (data[len(prefix)] == '0' && i > len(prefix)+1) {
		return 0, false
	}
	return v, true
}

// schemaHead is the schema member of data not written the way Encode
// writes it.
type schemaHead struct {
	Schema *int `json:"schema"`
}

var headCodec = fastjson.For[schemaHead]()

// Decode turns a stored (type, data) back into an Event value (not a
// pointer), upcasting older schema versions. Unknown types, versions newer
// than this build knows, a missing schema member and malformed JSON are
// errors; unknown JSON members are ignored so that additive changes do not
// need a new version.
func Decode(eventType string, data []byte) (Event, error) {
	r, ok := registry[eventType]
	if !ok {
		return nil, fmt.Errorf("decode %q: %w", eventType, ErrUnknownType)
	}
	if len(data) > MaxDataBytes {
		return nil, fmt.Errorf("decode %s: %d bytes: %w", eventType, len(data), ErrMalformed)
	}
	v, ok := schemaPrefix(data)
	if !ok {
		var head schemaHead
		if err := headCodec.Unmarshal(data, &head); err != nil {
			return nil, fmt.Errorf("decode %s: %w: %v", eventType, ErrMalformed, err)
		}
		if head.Schema == nil {
			return nil, fmt.Errorf("decode %s: no schema version: %w", eventType, ErrMalformed)
		}
		v = *head.Schema
	}
	switch {
	case v < 1 || v > r.version:
		return nil, fmt.Errorf("decode %s: schema %d (known up to %d): %w", eventType, v, r.version, ErrUnknownVersion)
	case v < r.version:
		if r.upcast == nil {
			return nil, fmt.Errorf("decode %s: schema %d has no upcast: %w", eventType, v, ErrUnknownVersion)
		}
		up, err := r.upcast(v, data)
		if err != nil {
			return nil, fmt.Errorf("decode %s: upcast from %d: %w", eventType, v, err)
		}
		data = up
	}
	e, err := r.decode(data)
	if err != nil {
		return nil, fmt.Errorf("decode %s: %w: %v", eventType, ErrMalformed, err)
	}
	return e, nil
}
