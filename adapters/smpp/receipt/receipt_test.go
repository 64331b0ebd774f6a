package receipt

import (
	"testing"
	"time"

	"github.com/linxGnu/gosmpp/data"
	"github.com/linxGnu/gosmpp/pdu"

	"github.com/smsledger/smsledger/domain/message"
)

func TestParseVariants(t *testing.T) {
	cases := []struct {
		name, in          string
		id, stat, err, tx string
		sub, dlvrd        int
		done              time.Time
	}{
		{"standard", "id:1234567890 sub:001 dlvrd:001 submit date:2401021504 done date:2401021505 stat:DELIVRD err:000 text:Hello world",
			"1234567890", message.DLRDelivered, "000", "Hello world", 1, 1, time.Date(2024, 1, 2, 15, 5, 0, 0, time.UTC)},
		{"lowercase hex seconds", "ID:1a2B3c SUB:1 DLVRD:0 SUBMIT DATE:240102150405 DONE DATE:240102150506 STAT:undeliv ERR:34 TEXT:",
			"1a2B3c", message.DLRUndeliverable, "34", "", 1, 0, time.Date(2024, 1, 2, 15, 5, 6, 0, time.UTC)},
		{"underscores missing fields", "id:77 submit_date:2401021504 done_date:20240102150506 stat:DELIVERED",
			"77", message.DLRDelivered, "", "", -1, -1, time.Date(2024, 1, 2, 15, 5, 6, 0, time.UTC)},
		{"extra fields", "id:abc sub:001 dlvrd:000 foo:bar submit date:2401021504 done date:2401021505 stat:REJECTD err:0x0B mccmnc:20801 text:id:fake stat:DELIVRD",
			"abc", message.DLRRejected, "0x0B", "id:fake stat:DELIVRD", 1, 0, time.Date(2024, 1, 2, 15, 5, 0, 0, time.UTC)},
		{"status error words", "msgid: 42 status: failed error: 500",
			"42", message.DLRUndeliverable, "500", "", -1, -1, time.Time{}},
		{"only stat", "stat:EXPIRED", "", message.DLRExpired, "", "", -1, -1, time.Time{}},
		{"garbage date", "id:1 done date:99999 stat:weird", "1", message.DLRUnknown, "", "", -1, -1, time.Time{}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r, err := Parse(c.in)
			if err != nil {
				t.Fatal(err)
			}
			if r.ID != c.id || r.Stat != c.stat || r.Err != c.err || r.Text != c.tx || r.Sub != c.sub || r.Dlvrd != c.dlvrd || !r.DoneDate.Equal(c.done) {
				t.Fatalf("got %+v", r)
			}
		})
	}
	if _, err := Parse("hello there"); err == nil {
		t.Fatal("plain text parsed as a receipt")
	}
}

func TestFormatRoundTrip(t *testing.T) {
	sub := time.Date(2024, 5, 6, 7, 8, 0, 0, time.UTC)
	r := Receipt{ID: "0b9c6a4e-1", Sub: 1, Dlvrd: 1, SubmitDate: sub, DoneDate: sub.Add(time.Minute), Stat: "delivered", Err: "000", Text: "a fairly long message text here"}
	s := r.Format()
	want := "id:0b9c6a4e-1 sub:001 dlvrd:001 submit date:2405060708 done date:2405060709 stat:DELIVRD err:000 text:a fairly long messag"
	if s != want {
		t.Fatalf("\n got %q\nwant %q", s, want)
	}
	back, err := Parse(s)
	if err != nil || back.ID != r.ID || back.Stat != message.DLRDelivered || !back.DoneDate.Equal(r.DoneDate) || back.State != StateDelivered {
		t.Fatalf("round trip: %+v %v", back, err)
	}
}

func TestFromDeliverSMTLVWins(t *testing.T) {
	p := pdu.NewDeliverSM().(*pdu.DeliverSM)
	p.EsmClass = data.SM_SMSC_DLV_RCPT_TYPE
	_ = p.Message.SetMessageWithEncoding("id:123 stat:DELIVRD err:000", data.GSM7BIT)
	r0 := Receipt{ID: "7b", State: StateUndeliverable}
	for _, f := range r0.TLVs() {
		p.RegisterOptionalParam(f)
	}
	p.RegisterOptionalParam(pdu.Field{Tag: pdu.TagNetworkErrorCode, Data: []byte{3, 0, 12}})
	if !IsReceipt(p) {
		t.Fatal("not a receipt")
	}
	r, err := FromDeliverSM(p)
	if err != nil || r.ID != "7b" || r.State != StateUndeliverable || r.Stat != message.DLRDelivered || r.NetworkErrorCode != 12 {
		t.Fatalf("%+v %v", r, err)
	}
	// TLV only.
	q := pdu.NewDeliverSM().(*pdu.DeliverSM)
	q.RegisterOptionalParam(pdu.Field{Tag: pdu.TagReceiptedMessageID, Data: []byte("99\x00")})
	q.RegisterOptionalParam(pdu.Field{Tag: pdu.TagMessageStateOption, Data: []byte{byte(StateExpired)}})
	r, err = FromDeliverSM(q)
	if err != nil || r.ID != "99" || r.Stat != message.DLRExpired {
		t.Fatalf("%+v %v", r, err)
	}
}

func TestStates(t *testing.T) {
	for s := StateEnroute; s <= StateRejected; s++ {
		if got := StateOf(s.Stat()); got != s {
			t.Errorf("StateOf(%d.Stat() = %q) = %d", s, s.Stat(), got)
		}
	}
	for stat, want := range map[string]MessageState{"delivered": StateDelivered, "FAILED": StateUndeliverable, "": StateUnknown, "what": StateUnknown} {
		if got := StateOf(stat); got != want {
			t.Errorf("StateOf(%q) = %d, want %d", stat, got, want)
		}
	}
	if StateNone.Stat() != message.DLRUnknown || MessageState(99).Stat() != message.DLRUnknown {
		t.Error("Stat of an undefined state is not UNKNOWN")
	}
}

func TestIDs(t *testing.T) {
	if ConvertID("255", IDDec, IDHex) != "ff" || ConvertID("FF", IDHex, IDDec) != "255" || ConvertID("zz", IDHex, IDDec) != "zz" {
		t.Fatal("ConvertID")
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"id:1234567890 sub:001 dlvrd:001 submit date:2401021504 done date:2401021505 stat:DELIVRD err:000 text:Hello",
		"ID:1a2B3c STAT:undeliv ERR:34 TEXT:",
		"msgid: 42 status: failed error: 500 x:y",
		"", ":", "id:", "text:", "submit  date:", "id:1 submit_date:240102150405 done_date:20240102150506",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := Parse(s)
		if err != nil {
			return
		}
		// Formatting what we parsed, then parsing again, keeps id and stat
		// whenever the id has no separators of its own.
		out := r.Format()
		back, err := Parse(out)
		if err != nil {
			t.Fatalf("format of %q = %q does not parse: %v", s, out, err)
		}
		if back.Stat == "" && r.Stat != "" {
			t.Fatalf("stat lost: %q -> %q", s, out)
		}
	})
}
