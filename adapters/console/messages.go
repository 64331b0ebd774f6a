package console

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/smsledger/smsledger/domain/events"
)

// messageRoutes registers the pages of messages: find by id, destination or client_ref, and one message's timeline.
func (c *Console) messageRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /console/messages", c.signedIn(c.messagesPage))
	mux.HandleFunc("GET /console/messages/{id}", c.signedIn(c.messagePage))
}

// phoneLike is a query that reads as a phone number (digits, an optional
// "+"): the find searches destinations with it.
var phoneLike = regexp.MustCompile(`^\+?[0-9]{3,20}$`)

// messageFind is the data of the messages page: the query, how it was
// searched, and the CDRs found.
type messageFind struct {
	Q, TenantID string
	By          string // "destination" or "client_ref"; empty before a search
	Rows        []map[string]string
	Next        string // the next page of the find, when there is one
	Err         string // the API's answer to a find it refused
}

// messagesPage finds messages. A message id opens its page (read from the
// event log, so it works as soon as the message is accepted); a phone
// number searches the CDRs by destination (then by client_ref, if the
// digits were no destination); anything else by client_ref. CDRs are a
// projection: a message shows in a find once the projections caught up.
func (c *Console) messagesPage(w http.ResponseWriter, r *http.Request, s *session) {
	v := r.URL.Query()
	d := messageFind{Q: strings.TrimSpace(v.Get("q")), TenantID: strings.TrimSpace(v.Get("tenant_id"))}
	if d.Q == "" {
		c.render(w, r, s, http.StatusOK, "messages", "Messages", "messages", d)
		return
	}
	if id, err := uuid.Parse(d.Q); err == nil {
		http.Redirect(w, r, "/console/messages/"+id.String(), http.StatusSeeOther)
		return
	}
	var err error
	if number := strings.ReplaceAll(d.Q, " ", ""); phoneLike.MatchString(number) {
		err = c.findMessages(r, s, &d, "destination", number, v.Get("cursor"))
		if err == nil && len(d.Rows) == 0 && !strings.HasPrefix(number, "+") && v.Get("cursor") == "" {
			err = c.findMessages(r, s, &d, "client_ref", d.Q, "")
		}
	} else {
		err = c.findMessages(r, s, &d, "client_ref", d.Q, v.Get("cursor"))
	}
	if err != nil {
		if ae, ok := err.(*APIError); ok && ae.Status != http.StatusUnauthorized {
			d.Err = ae.Message // shown with the form kept
			c.render(w, r, s, ae.Status, "messages", "Messages", "messages", d)
			return
		}
		c.renderError(w, r, s, "messages", err)
		return
	}
	c.render(w, r, s, http.StatusOK, "messages", "Messages", "messages", d)
}

// findMessages reads one page of the CDRs whose column by is value (and
// of d.TenantID's, when given) into d.
func (c *Console) findMessages(r *http.Request, s *session, d *messageFind, by, value, cursor string) error {
	q := url.Values{by: {value}}
	if d.TenantID != "" {
		q.Set("tenant_id", d.TenantID)
	}
	if cursor != "" {
		q.Set("cursor", cursor)
	}
	var page struct {
		Items      []map[string]string `json:"items"`
		NextCursor string              `json:"next_cursor"`
	}
	if err := c.getJSON(r, s, "/v1/cdrs?"+q.Encode(), &page); err != nil {
		return err
	}
	d.By, d.Rows, d.Next = by, page.Items, ""
	if page.NextCursor != "" {
		next := url.Values{"q": {d.Q}, "cursor": {page.NextCursor}}
		if d.TenantID != "" {
			next.Set("tenant_id", d.TenantID)
		}
		d.Next = "/console/messages?" + next.Encode()
	}
	return nil
}

// messageView is a message as GET /v1/messages/{id} answers the admin
// token: the whole message with supplier, cost and margin.
type messageView struct {
	ID                 string `json:"message_id"`
	TenantID           string `json:"tenant_id"`
	State              string `json:"state"`
	Channel            string `json:"channel"`
	From               string `json:"from"`
	To                 string `json:"to"`
	Encoding           string `json:"encoding"`
	Parts              int    `json:"parts"`
	Price              string `json:"price"`
	Currency           string `json:"currency"`
	Billing            string `json:"billing"`
	RoutePrefix        string `json:"route_prefix"`
	Supplier           string `json:"supplier"`
	Attempt            int    `json:"attempt"`
	Cost               string `json:"cost"`
	CostCurrency       string `json:"cost_currency"`
	Margin             string `json:"margin"`
	SupplierMessageID  string `json:"supplier_message_id"`
	DLRStatus          string `json:"dlr_status"`
	Forwarded          bool   `json:"forwarded"`
	Money              string `json:"money"`
	ClientRef          string `json:"client_ref"`
	AcceptedAt         string `json:"accepted_at"`
	SendAt             string `json:"send_at"`
	ExpiresAt          string `json:"expires_at"`
	SubmittedAt        string `json:"submitted_at"`
	SupplierAcceptedAt string `json:"supplier_accepted_at"`
	DoneAt             string `json:"done_at"`
	FinalAt            string `json:"final_at"`
}

// apiEvent is one event of GET /v1/messages/{id}/events.
type apiEvent struct {
	Position   uint64          `json:"position"`
	Type       string          `json:"type"`
	RecordedAt time.Time       `json:"recorded_at"`
	Data       json.RawMessage `json:"data"`
}

// timelineEntry is one event as the timeline shows it: when, a sentence,
// and the event's data as it is.
type timelineEntry struct {
	When, Type, Sentence, Data string
}

// messagePage shows one message: its summary and its events as a
// timeline, both read from the event log (GET /v1/messages/{id} and
// …/events with the admin token).
func (c *Console) messagePage(w http.ResponseWriter, r *http.Request, s *session) {
	path := "/v1/messages/" + url.PathEscape(r.PathValue("id"))
	var m messageView
	if err := c.getJSON(r, s, path, &m); err != nil {
		c.renderError(w, r, s, "messages", err)
		return
	}
	var trail struct {
		Events []apiEvent `json:"events"`
	}
	if err := c.getJSON(r, s, path+"/events", &trail); err != nil {
		c.renderError(w, r, s, "messages", err)
		return
	}
	timeline := make([]timelineEntry, len(trail.Events))
	for i, e := range trail.Events {
		timeline[i] = timelineEntry{
			When:     e.RecordedAt.UTC().Format("2006-01-02 15:04:05.000"),
			Type:     e.Type,
			Sentence: describeEvent(e.Type, e.Data),
			Data:     indentJSON(e.Data),
		}
	}
	c.render(w, r, s, http.StatusOK, "message", "Message "+m.ID, "messages", struct {
		Message  messageView
		Timeline []timelineEntry
	}{m, timeline})
}

// indentJSON is raw indented for a <pre>.
func indentJSON(raw json.RawMessage) string {
	var b bytes.Buffer
	if err := json.Indent(&b, raw, "", "  "); err != nil {
		return string(raw)
	}
	return b.String()
}

// describeEvent is an event of a message's trail as a sentence; an event
// type it does not know (or data it cannot read) is its type name.
func describeEvent(typ string, data json.RawMessage) string {
	d, ok := describers[typ]
	if !ok {
		return typ
	}
	s, err := d(data)
	if err != nil {
		return typ
	}
	return s
}

// describers turn each event type of a message's stream into a sentence.
var describers = map[string]func(json.RawMessage) (string, error){
	events.TypeMessageAccepted: describe(func(e events.MessageAccepted) string {
		s := fmt.Sprintf("Accepted from %s over %s, %s, price %s %s, to %s", e.TenantID, channelName(e.Channel), plural(e.Parts, "part"), e.Price, e.Currency, e.To)
		if e.Operator != "" {
			s += " (" + strings.TrimSpace(e.Operator+" "+e.Country) + ")"
		}
		if e.ClientRef != "" {
			s += ", client_ref " + e.ClientRef
		}
		if !e.SendAt.IsZero() {
			s += ", scheduled for " + e.SendAt.UTC().Format("2006-01-02 15:04:05")
		}
		return s
	}),
	events.TypeHeld: describe(func(e events.Held) string {
		return fmt.Sprintf("Hold placed: %s %s", e.Amount, e.Currency)
	}),
	events.TypeRouteSelected: describe(func(e events.RouteSelected) string {
		route := e.RoutePrefix
		if e.RouteMCCMNC != "" {
			route = "network " + e.RouteMCCMNC
		}
		s := fmt.Sprintf("Routed to %s over route %s", e.Winner, route)
		for _, c := range e.Candidates {
			if c.SupplierID == e.Winner {
				s += fmt.Sprintf(" (cost %s %s per part)", c.CostPerPart, c.Currency)
				break
			}
		}
		if e.Reason != "" {
			s += ": " + words(e.Reason)
		}
		if n := len(e.Candidates) - 1; n > 0 {
			s += fmt.Sprintf("; %s in reserve", plural(n, "other candidate"))
		}
		return s
	}),
	events.TypeSubmittedToSupplier: describe(func(e events.SubmittedToSupplier) string {
		return fmt.Sprintf("Submitted to %s (attempt %d)", e.SupplierID, e.Attempt)
	}),
	events.TypeSupplierAccepted: describe(func(e events.SupplierAccepted) string {
		return fmt.Sprintf("Supplier %s accepted it as message id %s (in %d ms)", e.SupplierID, e.SupplierMessageID, e.LatencyMs)
	}),
	events.TypeSupplierRejected: describe(func(e events.SupplierRejected) string {
		return fmt.Sprintf("Supplier %s rejected it with command_status 0x%08X (attempt %d)", e.SupplierID, e.CommandStatus, e.Attempt)
	}),
	events.TypeSupplierTimedOut: describe(func(e events.SupplierTimedOut) string {
		return fmt.Sprintf("Supplier %s did not answer within %d ms (attempt %d)", e.SupplierID, e.TimeoutMs, e.Attempt)
	}),
	events.TypeFailedOver: describe(func(e events.FailedOver) string {
		return fmt.Sprintf("Failed over from %s to %s (attempt %d): %s", e.FromSupplierID, e.ToSupplierID, e.Attempt, words(e.Reason))
	}),
	events.TypeDispatchHandedOver: describe(func(e events.DispatchHandedOver) string {
		return fmt.Sprintf("Handed over by node %s to node %s, which has a bind of %s (attempt %d)", e.Node, e.To, e.SupplierID, e.Attempt)
	}),
	events.TypeSubmitWithdrawn: describe(func(e events.SubmitWithdrawn) string {
		return fmt.Sprintf("Withdrawn from node %s's queue for %s before it was sent (attempt %d): %s; routed again as attempt %d",
			e.Node, e.SupplierID, e.Attempt, words(e.Reason), e.Attempt+1)
	}),
	events.TypeDeliveryReported: describe(func(e events.DeliveryReported) string {
		s := fmt.Sprintf("DLR %s from %s", e.Status, e.SupplierID)
		if e.ErrorCode != "" && strings.Trim(e.ErrorCode, "0") != "" {
			s += " (error " + e.ErrorCode + ")"
		}
		if !e.DoneAt.IsZero() {
			s += ", done at " + e.DoneAt.UTC().Format("2006-01-02 15:04:05")
		}
		return s
	}),
	events.TypeDeliveryForwarded: describe(func(e events.DeliveryForwarded) string {
		return fmt.Sprintf("DLR %s forwarded to %s", e.Status, e.TenantID)
	}),
	events.TypeMessageExpired: describe(func(events.MessageExpired) string { return "Expired" }),
	events.TypeMessageFailed: describe(func(e events.MessageFailed) string {
		return "Failed: " + words(e.Reason)
	}),
	events.TypeSettled: describe(func(e events.Settled) string {
		s := fmt.Sprintf("Settled: charged %s %s", e.Price, e.Currency)
		if e.CostCurrency != "" {
			s += fmt.Sprintf("; cost %s %s to %s", e.Cost, e.CostCurrency, e.SupplierID)
		}
		return s
	}),
	events.TypeReleased: describe(func(e events.Released) string {
		return fmt.Sprintf("Hold released: %s %s, not charged (%s)", e.Amount, e.Currency, words(e.Reason))
	}),
	events.TypeSupplierCostBooked: describe(func(e events.SupplierCostBooked) string {
		return fmt.Sprintf("Supplier cost booked: %s %s to %s", e.Cost, e.CostCurrency, e.SupplierID)
	}),
	events.TypeJournalEntryRecorded: describe(func(e events.JournalEntryRecorded) string {
		lines := make([]string, len(e.Postings))
		for i, p := range e.Postings {
			lines[i] = p.Account + " " + p.Amount.String()
		}
		return fmt.Sprintf("Journal entry (%s, %s): %s", e.Kind, e.Currency, strings.Join(lines, ", "))
	}),
}

// describe makes a describer of an event type from a sentence of its
// decoded data.
func describe[E any](sentence func(E) string) func(json.RawMessage) (string, error) {
	return func(raw json.RawMessage) (string, error) {
		var e E
		if err := json.Unmarshal(raw, &e); err != nil {
			return "", err
		}
		return sentence(e), nil
	}
}

func channelName(ch string) string {
	switch ch {
	case "smpp", "http":
		return strings.ToUpper(ch)
	}
	return ch
}

// words is a reason code as words ("only_candidate": "only candidate").
func words(code string) string { return strings.ReplaceAll(code, "_", " ") }

// plural is "1 part", "2 parts".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
