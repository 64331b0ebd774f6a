package main

import (
	"context"
	"fmt"

	"github.com/smsledger/smsledger/adapters/mnp"
	"github.com/smsledger/smsledger/internal/supervise"
)

// portability: the optional number-portability provider (--mnp-url),
// looked up behind the hot path (adapters/mnp): the ledger asks its cache,
// its workers ask the provider. Not vital: when it stops, the cache stays
// and the plan decides for numbers it does not know.
func (d *daemon) portability() supervise.Component {
	return supervise.Component{
		Name: "portability lookup",
		Start: func(context.Context) error {
			if d.cfg.mnpURL == "" {
				return nil
			}
			c, err := mnp.New(mnp.Config{URL: d.cfg.mnpURL, Timeout: d.cfg.mnpTimeout, CacheTTL: d.cfg.mnpCacheTTL, Logger: d.log})
			if err != nil {
				return fmt.Errorf("--mnp-url: %w", err)
			}
			d.mnp = c
			d.log.Info("portability lookups", "mnp_url", d.cfg.mnpURL)
			return nil
		},
		Run: func(ctx context.Context) error {
			if d.mnp == nil {
				<-ctx.Done()
				return nil
			}
			return d.mnp.Run(ctx)
		},
	}
}
