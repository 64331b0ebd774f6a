package pricing

import (
	"errors"
	"testing"

	"github.com/shopspring/decimal"
	"github.com/smsledger/smsledger/domain/money"
)

func d(s string) decimal.Decimal { return decimal.RequireFromString(s) }

func TestRateCardQuote(t *testing.T) {
	rc, err := NewRateCard("EUR", []Rate{
		{"44", d("0.04")}, {"447", d("0.035")}, {"4477", d("0.0125")}, {"1", d("0.008")},
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
	if _, err := NewRateCard("EUR", []Rate{{"44", d("0.000000001")}}); !errors.Is(err, money.ErrNotExact) {
		t.Errorf("precision: %v", err)
	}
	if _, err := NewRateCard("EUR", []Rate{{"44", d("-1")}}); !errors.Is(err, money.ErrNegative) {
		t.Errorf("negative: %v", err)
	}
	if _, err := NewRateCard("EUR", []Rate{{"44", d("1")}, {"44", d("2")}}); err == nil {
		t.Error("duplicate prefix accepted")
	}
	var nilCard *RateCard
	if _, _, err := nilCard.PricePerPart("44"); !errors.Is(err, ErrNoRate) {
		t.Errorf("nil card: %v", err)
	}
}
