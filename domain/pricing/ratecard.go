package pricing

import (
	"errors"
	"fmt"

	"github.com/shopspring/decimal"
	"github.com/smsledger/smsledger/domain/money"
	"github.com/smsledger/smsledger/domain/prefix"
)

// ErrNoRate reports a destination that no prefix of the rate card covers.
var ErrNoRate = errors.New("no rate for destination")

// Rate is one line of a tenant rate card: the sell price per SMS part for
// destinations starting with Prefix.
type Rate struct {
	Prefix string          `json:"prefix"`
	Price  decimal.Decimal `json:"price"`
}

// RateCard is a tenant's immutable rate card. Lookups are lock-free and
// allocation-free; a changed card is a new RateCard swapped in whole.
type RateCard struct {
	currency money.Currency
	table    *prefix.Table[money.Units]
}

// NewRateCard builds a rate card; prices must be >= 0 and exactly
// representable in money.Units, prefixes unique digit strings.
func NewRateCard(currency money.Currency, rates []Rate) (*RateCard, error) {
	if !currency.Valid() {
		return nil, fmt.Errorf("rate card: currency %q: %w", currency, money.ErrInvalidCurrency)
	}
	entries := make([]prefix.Entry[money.Units], len(rates))
	for i, r := range rates {
		u, err := money.FromDecimal(r.Price)
		if err != nil {
			return nil, fmt.Errorf("rate card prefix %q: %w", r.Prefix, err)
		}
		if u < 0 {
			return nil, fmt.Errorf("rate card prefix %q: price %s: %w", r.Prefix, r.Price, money.ErrNegative)
		}
		entries[i] = prefix.Entry[money.Units]{Prefix: r.Prefix, Value: u}
	}
	t, err := prefix.New(entries)
	if err != nil {
		return nil, fmt.Errorf("rate card: %w", err)
	}
	return &RateCard{currency: currency, table: t}, nil
}

// Currency is the card's (the tenant's) currency.
func (c *RateCard) Currency() money.Currency { return c.currency }

// PricePerPart returns the price per part for an E.164 destination (digits
// only) and the prefix that matched; ErrNoRate when none does.
func (c *RateCard) PricePerPart(destination string) (price money.Units, matched string, err error) {
	if c == nil {
		return 0, "", ErrNoRate
	}
	p, n, ok := c.table.Lookup(destination)
	if !ok {
		return 0, "", ErrNoRate
	}
	return p, destination[:n], nil
}

// Quote is the tenant price of one message.
type Quote struct {
	Currency     money.Currency
	RatePrefix   string
	PricePerPart money.Units
	Parts        int
	Price        money.Units // PricePerPart × Parts
}

// Quote prices a message of parts parts to destination.
func (c *RateCard) Quote(destination string, parts int) (Quote, error) {
	per, m, err := c.PricePerPart(destination)
	if err != nil {
		return Quote{}, err
	}
	total, err := per.MulInt(parts)
	if err != nil {
		return Quote{}, fmt.Errorf("price %s × %d parts: %w", per, parts, err)
	}
	return Quote{Currency: c.currency, RatePrefix: m, PricePerPart: per, Parts: parts, Price: total}, nil
}
