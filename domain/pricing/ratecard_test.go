package pricing

import (
	"errors"
	"testing"

	"github.com/shopspring/decimal"
	"github.com/smsledger/smsledger/domain/money"
	"github.com/smsledger/smsledger/domain/numbering"
)

func d(s string) decimal.Decimal { return decimal.RequireFromString(s) }

func TestRateCardQuote(t *testing.T) {
	rc, err := NewRateCard("EUR", []Rate{
		{Prefix: "44", Price: d("0.04")}, {Prefix: "447", Price: d("0.035")}, {Prefix: "4477", Price: d("0.0125")}, {Prefix: "1", Price: d("0.008")},
	})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		dest   string
		parts  int
		prefix string
		per    string
		total  string
		err    error
	}{
		{"447700900123", 1, "4477", "0.0125", "0.0125", nil},
		{"447700900123", 3, "4477", "0.0125", "0.0375", nil},
		{"447912345678", 2, "447", "0.035", "0.07", nil},
		{"442079460000", 1, "44", "0.04", "0.04", nil},
		{"12125550100", 255, "1", "0.008", "2.04", nil},
		{"49301234567", 1, "", "", "", ErrNoRate},
	}
	for _, c := range cases {
		q, err := rc.Quote(c.dest, c.parts)
		if c.err != nil {
			if !errors.Is(err, c.err) {
				t.Errorf("%s: err %v", c.dest, err)
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if q.RatePrefix != c.prefix || q.PricePerPart.String() != c.per || q.Price.String() != c.total || q.Currency != "EUR" || q.Parts != c.parts {
			t.Errorf("%s x%d: %+v", c.dest, c.parts, q)
		}
	}
}

func TestRateCardErrors(t *testing.T) {
	if _, err := NewRateCard("eur", nil); !errors.Is(err, money.ErrInvalidCurrency) {
		t.Errorf("currency: %v", err)
	}
	if _, err := NewRateCard("EUR", []Rate{{Prefix: "44", Price: d("0.000000001")}}); !errors.Is(err, money.ErrNotExact) {
		t.Errorf("precision: %v", err)
	}
	if _, err := NewRateCard("EUR", []Rate{{Prefix: "44", Price: d("-1")}}); !errors.Is(err, money.ErrNegative) {
		t.Errorf("negative: %v", err)
	}
	if _, err := NewRateCard("EUR", []Rate{{Prefix: "44", Price: d("1")}, {Prefix: "44", Price: d("2")}}); err == nil {
		t.Error("duplicate prefix accepted")
	}
	var nilCard *RateCard
	if _, _, err := nilCard.PricePerPart("44"); !errors.Is(err, ErrNoRate) {
		t.Errorf("nil card: %v", err)
	}
}

// A network row prices a destination whose network is known, before any
// prefix; an unknown network, or one without a row, falls back to the
// longest prefix.
func TestRateCardNetworkRows(t *testing.T) {
	rc, err := NewRateCard("EUR", []Rate{
		{Prefix: "44", Price: d("0.04")}, {MCCMNC: "23415", Price: d("0.0042")}, {MCCMNC: "234010", Price: d("0.005")},
	})
	if err != nil {
		t.Fatal(err)
	}
	vodafone, _ := numbering.ParseCode("23415")
	other, _ := numbering.ParseCode("23420")
	if q, err := rc.QuoteOn("447700900123", vodafone, 2); err != nil || q.RateNetwork != vodafone || q.RatePrefix != "" || q.PricePerPart.String() != "0.0042" || q.Price.String() != "0.0084" {
		t.Errorf("network row: %+v %v", q, err)
	}
	for _, net := range []numbering.Code{0, other} {
		if q, err := rc.QuoteOn("447700900123", net, 1); err != nil || q.RateNetwork.Known() || q.RatePrefix != "44" || q.PricePerPart.String() != "0.04" {
			t.Errorf("network %v: %+v %v, want the prefix row", net, q, err)
		}
	}
	if rc.Networks() != 2 {
		t.Errorf("%d network rows", rc.Networks())
	}
	for name, rates := range map[string][]Rate{
		"prefix and network": {{Prefix: "44", MCCMNC: "23415", Price: d("1")}},
		"network twice":      {{MCCMNC: "23415", Price: d("1")}, {MCCMNC: "23415", Price: d("2")}},
		"bad network":        {{MCCMNC: "2341", Price: d("1")}},
	} {
		if _, err := NewRateCard("EUR", rates); !errors.Is(err, ErrInvalidRate) {
			t.Errorf("%s: %v, want ErrInvalidRate", name, err)
		}
	}
}
