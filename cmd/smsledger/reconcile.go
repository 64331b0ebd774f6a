package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/smsledger/smsledger/projections"
)

type reconcileConfig struct {
	common   commonConfig
	from, to time.Time
	format   string
	invoice  string
	supplier string
}

// parseTime accepts RFC 3339 or a date (midnight UTC).
func parseTime(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	return time.Parse("2006-01-02", s)
}

func parseReconcileFlags(args []string, stderr io.Writer, getenv func(string) string) (reconcileConfig, error) {
	var cfg reconcileConfig
	fs := newFlagSet("reconcile", stderr)
	cfg.common.register(fs)
	var from, to string
	fs.StringVar(&from, "from", "", "start of the period, inclusive (RFC 3339 or YYYY-MM-DD, UTC)")
	fs.StringVar(&to, "to", "", "end of the period, exclusive (RFC 3339 or YYYY-MM-DD, UTC)")
	fs.StringVar(&cfg.format, "format", "text", "output: text or json")
	fs.StringVar(&cfg.invoice, "invoice", "", "a supplier's invoice CSV (supplier_message_id,destination,parts,cost,date) to compare with our CDRs of the messages it accepted in the period (it should bill those whose cost we booked: all of an on_submit supplier's, the delivered ones of an on_delivery supplier's); needs --supplier")
	fs.StringVar(&cfg.supplier, "supplier", "", "the supplier id of --invoice")
	if err := parseFlags(fs, args, getenv, commonFallbacks); err != nil {
		return cfg, err
	}
	var err error
	if from == "" || to == "" {
		return cfg, fmt.Errorf("%w: --from and --to are required", errUsage)
	}
	if cfg.from, err = parseTime(from); err != nil {
		return cfg, fmt.Errorf("%w: --from: %v", errUsage, err)
	}
	if cfg.to, err = parseTime(to); err != nil {
		return cfg, fmt.Errorf("%w: --to: %v", errUsage, err)
	}
	if !cfg.to.After(cfg.from) {
		return cfg, fmt.Errorf("%w: --to must be after --from", errUsage)
	}
	if cfg.format != "text" && cfg.format != "json" {
		return cfg, fmt.Errorf("%w: --format must be text or json", errUsage)
	}
	if (cfg.invoice == "") != (cfg.supplier == "") {
		return cfg, fmt.Errorf("%w: --invoice and --supplier go together", errUsage)
	}
	return cfg, cfg.common.validate()
}

// runReconcile prints the reconciliation report; a failed check is an
// error (exit 1) after the report.
func runReconcile(ctx context.Context, cfg reconcileConfig, stdout io.Writer, log *slog.Logger) error {
	db, err := openLedger(ctx, cfg.common, log)
	if err != nil {
		return err
	}
	defer db.close()
	table, err := latestFXTable(ctx, db.store)
	if err != nil {
		return err
	}
	rep, err := projections.Reconcile(ctx, db.pool, cfg.from, cfg.to, table)
	if err != nil {
		return err
	}
	var inv *projections.InvoiceReport
	if cfg.invoice != "" {
		f, err := os.Open(cfg.invoice)
		if err != nil {
			return fmt.Errorf("invoice: %w", err)
		}
		lines, err := projections.ParseInvoiceCSV(f)
		f.Close()
		if err != nil {
			return fmt.Errorf("invoice %s: %w", cfg.invoice, err)
		}
		r, err := projections.CompareInvoice(ctx, db.pool, cfg.supplier, cfg.from, cfg.to, lines)
		if err != nil {
			return err
		}
		inv = &r
	}
	if cfg.format == "json" {
		if err := writeJSON(stdout, struct {
			projections.Report
			Invoice *projections.InvoiceReport `json:"invoice,omitempty"`
		}{rep, inv}); err != nil {
			return err
		}
	} else {
		printReport(stdout, rep, inv)
	}
	if !rep.OK {
		return fmt.Errorf("reconciliation found mismatches")
	}
	if inv != nil && len(inv.Differences) > 0 {
		return fmt.Errorf("invoice differs from our CDRs in %d lines", inv.DifferencesTotal)
	}
	return nil
}

func printReport(w io.Writer, rep projections.Report, inv *projections.InvoiceReport) {
	fmt.Fprintf(w, "reconciliation %s .. %s\n\ntenants (messages and parts by acceptance, revenue by settlement):\n", rep.From.Format(time.RFC3339), rep.To.Format(time.RFC3339))
	for _, t := range rep.Tenants {
		fmt.Fprintf(w, "  %-20s %-4s messages %-8d parts %-8d revenue %s\n", t.TenantID, t.Currency, t.Messages, t.Parts, t.Revenue)
	}
	fmt.Fprintln(w, "\nsuppliers (cost booked, when each supplier's billing basis says):")
	for _, s := range rep.Suppliers {
		fmt.Fprintf(w, "  %-20s %-4s messages %-8d parts %-8d cost %s\n", s.SupplierID, s.Currency, s.Messages, s.Parts, s.Cost)
	}
	printMargins(w, "", marginGroups(rep.MarginByTenant, rep.MarginBySupplier, rep.MarginByPrefix, rep.MarginByNetwork))
	if rc := rep.Reporting; rc != nil {
		printReporting(w, rc)
	}
	fmt.Fprintln(w, "\nchecks:")
	for _, c := range rep.Checks {
		status := "ok"
		if !c.OK {
			status = fmt.Sprintf("FAILED (%d)", c.Count)
		}
		fmt.Fprintf(w, "  %-34s %s\n", c.Name, status)
		for _, m := range c.Mismatches {
			fmt.Fprintf(w, "      %s\n", m)
		}
	}
	if inv != nil {
		fmt.Fprintf(w, "\ninvoice of %s: %d lines, %d matched, invoice total %s, our total %s, %d differences\n",
			inv.SupplierID, inv.Lines, inv.Matched, inv.InvoiceTotal, inv.OurTotal, inv.DifferencesTotal)
		for _, d := range inv.Differences {
			fmt.Fprintf(w, "  %-20s %-24s ours %q  invoice %q\n", d.Kind, d.SupplierMessageID, d.Ours, d.Theirs)
		}
	}
}

// marginGroup is one list of margins, by what they are keyed.
type marginGroup struct {
	name string
	ms   []projections.Margin
}

// marginGroups are a report's four lists of margins.
func marginGroups(tenant, supplier, prefix, network []projections.Margin) []marginGroup {
	return []marginGroup{{"tenant", tenant}, {"supplier", supplier}, {"destination prefix", prefix}, {networkGroup, network}}
}

// networkGroup names the margins by destination network.
const networkGroup = "destination network"

// printMargins prints each group's margins, its title after what.
func printMargins(w io.Writer, what string, groups []marginGroup) {
	for _, g := range groups {
		fmt.Fprintf(w, "\nmargin by %s%s:\n", g.name, what)
		for _, m := range g.ms {
			margin := m.Margin
			if margin == "" {
				margin = "(currencies differ)"
			}
			key := m.Key
			if g.name == networkGroup {
				key = networkKey(m)
			}
			fmt.Fprintf(w, "  %-20s messages %-8d revenue %s %s  cost %s %s  margin %s\n", key, m.Messages, m.Revenue, m.Currency, m.Cost, m.CostCurrency, margin)
		}
	}
}

// networkKey is a network's margin key as printed: its mccmnc with its
// country and operator, the messages of no known network as "(unknown)".
func networkKey(m projections.Margin) string {
	key := m.Key
	if key == "" {
		key = "(unknown)"
	}
	if m.Country != "" || m.Operator != "" {
		key += " " + strings.TrimSpace(m.Country+" "+m.Operator)
	}
	return key
}

// printReporting prints the period in the FX table's base currency and
// the messages it could not convert.
func printReporting(w io.Writer, rc *projections.ReportingCurrency) {
	fmt.Fprintf(w, "\nin the reporting currency %s (each message at the rates in force at its acceptance):\n", rc.Currency)
	fmt.Fprintf(w, "  messages %-8d revenue %s  cost %s  margin %s\n", rc.Messages, rc.Revenue, rc.Cost, rc.Margin)
	what := " in " + rc.Currency
	printMargins(w, what, marginGroups(rc.MarginByTenant, rc.MarginBySupplier, rc.MarginByPrefix, rc.MarginByNetwork))
	if rc.Unconverted == 0 {
		fmt.Fprintf(w, "\nevery message converted to %s\n", rc.Currency)
		return
	}
	fmt.Fprintf(w, "\nNOT CONVERTED to %s (no rate in force at acceptance; left out of the figures in %s above): %d messages\n", rc.Currency, rc.Currency, rc.Unconverted)
	for _, u := range rc.UnconvertedMessages {
		fmt.Fprintf(w, "  %s  %-20s accepted %s  no rate for %s\n", u.MessageID, u.TenantID, u.AcceptedAt.UTC().Format(time.RFC3339), strings.Join(u.Currencies, ", "))
	}
	if n := rc.Unconverted - int64(len(rc.UnconvertedMessages)); n > 0 {
		fmt.Fprintf(w, "  ... and %d more\n", n)
	}
}
