package pricing

import (
	"errors"
	"fmt"

	"github.com/shopspring/decimal"
	"github.com/smsledger/smsledger/domain/money"
	"github.com/smsledger/smsledger/domain/numbering"
	"github.com/smsledger/smsledger/domain/prefix"
)

// ErrNoRate reports a destination that no prefix of the rate card covers.
var ErrNoRate = errors.New("no rate for destination")

// Rate is one line of a tenant rate card: the sell price per SMS part for
// destinations starting with Prefix, or — MCCMNC set, Prefix empty — for
// destinations on that mobile network.
type Rate struct {
	Prefix string          `json:"prefix"`
	MCCMNC string          `json:"mccmnc,omitempty"`
	Price  decimal.Decimal `json:"price"`
}

// ErrInvalidRate reports a rate card line that names both a prefix and a
// network, an invalid network, or a network twice.
var ErrInvalidRate = errors.New("invalid rate")

// RateCard is a tenant's immutable rate card. Lookups are lock-free and
// allocation-free; a changed card is a new RateCard swapped in whole.
type RateCard struct {
	currency money.Currency
	table    *prefix.Table[money.Units]
	networks map[numbering.Code]money.Units // network rows; nil: none
}

// NewRateCard builds a rate card; prices must be >= 0 and exactly
// representable in money.Units, prefixes unique digit strings.
func NewRateCard(currency money.Currency, rates []Rate) (*RateCard, error) {
	if !currency.Valid() {
		return nil, fmt.Errorf("rate card: currency %q: %w", currency, money.ErrInvalidCurrency)
	}
	entries := make([]prefix.Entry[money.Units], 0, len(rates))
	var networks map[numbering.Code]money.Units
	for _, r := range rates {
		u, err := money.FromDecimal(r.Price)
		if err != nil {
			return nil, fmt.Errorf("rate card %s: %w", lineName(r.Prefix, r.MCCMNC), err)
		}
		if u < 0 {
			return nil, fmt.Errorf("rate card %s: price %s: %w", lineName(r.Prefix, r.MCCMNC), r.Price, money.ErrNegative)
		}
		if r.MCCMNC == "" {
			entries = append(entries, prefix.Entry[money.Units]{Prefix: r.Prefix, Value: u})
			continue
		}
		code, err := NetworkOf(r.Prefix, r.MCCMNC)
		if err != nil {
			return nil, fmt.Errorf("rate card: %w", err)
		}
		if networks == nil {
			networks = make(map[numbering.Code]money.Units)
		}
		if _, dup := networks[code]; dup {
			return nil, fmt.Errorf("rate card: network %s twice: %w", r.MCCMNC, ErrInvalidRate)
		}
		networks[code] = u
	}
	t, err := prefix.New(entries)
	if err != nil {
		return nil, fmt.Errorf("rate card: %w", err)
	}
	return &RateCard{currency: currency, table: t, networks: networks}, nil
}

// NetworkOf checks a deck line that names a network (mccmnc set): it may
// not name a prefix too. Rate cards, cost cards and route tables share the
// rule.
func NetworkOf(prefixDigits, mccmnc string) (numbering.Code, error) {
	if prefixDigits != "" {
		return 0, fmt.Errorf("line with prefix %q and mccmnc %q: one or the other: %w", prefixDigits, mccmnc, ErrInvalidRate)
	}
	code, err := numbering.ParseCode(mccmnc)
	if err != nil {
		return 0, fmt.Errorf("%w: %w", ErrInvalidRate, err)
	}
	return code, nil
}

func lineName(prefixDigits, mccmnc string) string {
	if mccmnc != "" {
		return "network " + mccmnc
	}
	return fmt.Sprintf("prefix %q", prefixDigits)
}

// Currency is the card's (the tenant's) currency.
func (c *RateCard) Currency() money.Currency { return c.currency }

// PricePerPart returns the price per part for an E.164 destination (digits
// only) and the prefix that matched; ErrNoRate when none does.
func (c *RateCard) PricePerPart(destination string) (price money.Units, matched string, err error) {
	price, matched, _, err = c.PricePerPartOn(destination, 0)
	return price, matched, err
}

// PricePerPartOn is PricePerPart for a destination on network net (the zero
// Code: unknown): a network row of the card applies when there is one for
// net (matchedNet is then net and matched empty), the longest prefix
// otherwise.
func (c *RateCard) PricePerPartOn(destination string, net numbering.Code) (price money.Units, matched string, matchedNet numbering.Code, err error) {
	if c == nil {
		return 0, "", 0, ErrNoRate
	}
	if net.Known() && c.networks != nil {
		if p, ok := c.networks[net]; ok {
			return p, "", net, nil
		}
	}
	p, n, ok := c.table.Lookup(destination)
	if !ok {
		return 0, "", 0, ErrNoRate
	}
	return p, destination[:n], 0, nil
}

// Quote is the tenant price of one message.
type Quote struct {
	Currency   money.Currency
	RatePrefix string
	// RateNetwork is the network whose row priced it (zero: a prefix did).
	RateNetwork  numbering.Code
	PricePerPart money.Units
	Parts        int
	Price        money.Units // PricePerPart × Parts
}

// Quote prices a message of parts parts to destination.
func (c *RateCard) Quote(destination string, parts int) (Quote, error) {
	return c.QuoteOn(destination, 0, parts)
}

// QuoteOn prices a message of parts parts to destination on network net
// (see PricePerPartOn).
func (c *RateCard) QuoteOn(destination string, net numbering.Code, parts int) (Quote, error) {
	per, m, mn, err := c.PricePerPartOn(destination, net)
	if err != nil {
		return Quote{}, err
	}
	total, err := per.MulInt(parts)
	if err != nil {
		return Quote{}, fmt.Errorf("price %s × %d parts: %w", per, parts, err)
	}
	return Quote{Currency: c.currency, RatePrefix: m, RateNetwork: mn, PricePerPart: per, Parts: parts, Price: total}, nil
}

// Networks is the number of network rows of the card.
func (c *RateCard) Networks() int {
	if c == nil {
		return 0
	}
	return len(c.networks)
}
