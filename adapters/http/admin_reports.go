package httpapi

import (
	"errors"
	"io"
	"net/http"
	"strings"
)

// MaxInvoiceBodyBytes bounds a supplier's invoice CSV (POST
// /v1/reconciliation/invoice): 64 MiB, about a million lines of a
// typical invoice. The invoice is parsed whole before it is compared.
const MaxInvoiceBodyBytes = 64 << 20

// cdrPageRows is the size of a page of GET /v1/cdrs.
const cdrPageRows = 1000

// cdrQuery reads the filters of GET /v1/cdrs: from, to, status,
// destination, client_ref, mccmnc and cursor for everyone; tenant_id and
// supplier_id for the admin token. A tenant's key always reads its own
// CDRs: a tenant_id it gives is ignored (it cannot name another tenant),
// and supplier_id is refused. A destination may be given with its "+";
// CDRs hold E.164 digits.
func cdrQuery(r *http.Request, tenant string) (CDRQuery, error) {
	v := r.URL.Query()
	from, err := parseTime(v.Get("from"), "from")
	if err != nil {
		return CDRQuery{}, err
	}
	to, err := parseTime(v.Get("to"), "to")
	if err != nil {
		return CDRQuery{}, err
	}
	q := CDRQuery{TenantID: tenant, From: from, To: to, Status: v.Get("status"),
		Destination: strings.TrimPrefix(strings.TrimSpace(v.Get("destination")), "+"),
		ClientRef:   v.Get("client_ref"), MCCMNC: strings.TrimSpace(v.Get("mccmnc")), Cursor: v.Get("cursor"), Limit: cdrPageRows}
	if tenant == "" {
		q.TenantID, q.SupplierID = v.Get("tenant_id"), v.Get("supplier_id")
	} else if v.Get("supplier_id") != "" {
		return CDRQuery{}, errorf(http.StatusBadRequest, "invalid_request", "supplier_id is a filter of the admin token")
	}
	return q, nil
}

// reconcileInvoice: POST /v1/reconciliation/invoice?supplier=&from=&to=
// with a supplier's invoice as text/csv (the file `smsledger reconcile
// --invoice` reads: supplier_message_id,destination,parts,cost,date)
// answers its differences with our CDRs of the messages the supplier
// accepted in [from, to). A line that does not parse is a 400 naming it.
func (h *handler) reconcileInvoice(w http.ResponseWriter, r *http.Request, _ string) error {
	rep, err := h.reports()
	if err != nil {
		return err
	}
	noWriteDeadline(w)
	v := r.URL.Query()
	supplier := v.Get("supplier")
	if supplier == "" {
		return errorf(http.StatusBadRequest, "invalid_request", "supplier is required")
	}
	if _, err := h.svc.Supplier(supplier); err != nil {
		return err
	}
	from, err := parseTime(v.Get("from"), "from")
	if err != nil {
		return err
	}
	to, err := parseTime(v.Get("to"), "to")
	if err != nil {
		return err
	}
	if from.IsZero() || to.IsZero() || !to.After(from) {
		return errorf(http.StatusBadRequest, "invalid_request", "from and to are required, to after from")
	}
	if !sendsCSV(r) {
		return errorf(http.StatusUnsupportedMediaType, "unsupported_media_type", "Content-Type must be text/csv")
	}
	body := &boundedBody{rd: http.MaxBytesReader(w, r.Body, MaxInvoiceBodyBytes)}
	res, err := rep.CompareInvoice(r.Context(), supplier, from, to, body)
	if body.over != nil {
		return body.over
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, res)
	return nil
}

// boundedBody remembers that a request body went over its bound: a parser
// reading it (e.g. the invoice's) reports that as a bad line of its own,
// yet it is a 413.
type boundedBody struct {
	rd   io.Reader
	over *http.MaxBytesError
}

func (b *boundedBody) Read(p []byte) (int, error) {
	n, err := b.rd.Read(p)
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		b.over = mbe
	}
	return n, err
}
