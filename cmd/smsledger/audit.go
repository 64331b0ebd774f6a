package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/smsledger/smsledger/projections"
)

type auditConfig struct {
	common    commonConfig
	messageID uuid.UUID
	format    string
}

// parseAuditFlags takes the message id as the first or the last argument.
func parseAuditFlags(args []string, stderr io.Writer, getenv func(string) string) (auditConfig, error) {
	var cfg auditConfig
	fs := newFlagSet("audit", stderr)
	cfg.common.register(fs)
	fs.StringVar(&cfg.format, "format", "text", "output: text or json")
	var id string
	switch {
	case len(args) > 0 && !strings.HasPrefix(args[0], "-"):
		id, args = args[0], args[1:]
	case len(args) > 0:
		if _, err := uuid.Parse(args[len(args)-1]); err == nil {
			id, args = args[len(args)-1], args[:len(args)-1]
		}
	}
	if err := parseFlags(fs, args, getenv, commonFallbacks); err != nil {
		return cfg, err
	}
	if id == "" {
		return cfg, fmt.Errorf("%w: usage: smsledger audit <message-id> [flags]", errUsage)
	}
	var err error
	if cfg.messageID, err = uuid.Parse(id); err != nil {
		return cfg, fmt.Errorf("%w: message id %q: %v", errUsage, id, err)
	}
	if cfg.format != "text" && cfg.format != "json" {
		return cfg, fmt.Errorf("%w: --format must be text or json", errUsage)
	}
	return cfg, cfg.common.validate()
}

// runAudit prints a message's events in order with their data.
func runAudit(ctx context.Context, cfg auditConfig, stdout io.Writer, log *slog.Logger) error {
	db, err := openLedger(ctx, cfg.common, log)
	if err != nil {
		return err
	}
	defer db.close()
	trail, err := projections.Audit(ctx, db.store, cfg.messageID)
	if err != nil {
		return err
	}
	if cfg.format == "json" {
		return writeJSON(stdout, trail)
	}
	fmt.Fprintf(stdout, "message %s: %d events\n", cfg.messageID, len(trail))
	for _, e := range trail {
		var data bytes.Buffer
		if err := json.Indent(&data, e.Data, "    ", "  "); err != nil {
			return fmt.Errorf("event %d: %w", e.Version, err)
		}
		fmt.Fprintf(stdout, "\n#%d  %s  position %d  recorded %s\n    %s\n", e.Version, e.Type, e.Position, e.RecordedAt.UTC().Format(time.RFC3339Nano), data.String())
	}
	return nil
}
