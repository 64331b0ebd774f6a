package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
)

// errHelp is returned when -h was asked for (usage already printed; exit 0).
var errHelp = errors.New("help requested")

const envPrefix = "SMSLEDGER_"

// envName is the environment variable for a flag: http-addr → SMSLEDGER_HTTP_ADDR.
func envName(flagName string) string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// parseFlags parses args, then fills every flag not given on the command line
// from SMSLEDGER_<NAME> (and from the extra fallbacks, e.g. DATABASE_URL).
func parseFlags(fs *flag.FlagSet, args []string, getenv func(string) string, fallbacks map[string]string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return errHelp
		}
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected arguments %q", errUsage, fs.Args())
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if given[f.Name] || err != nil {
			return
		}
		name := envName(f.Name)
		v := getenv(name)
		if v == "" && fallbacks[f.Name] != "" {
			name = fallbacks[f.Name]
			v = getenv(name)
		}
		if v == "" {
			return
		}
		if e := f.Value.Set(v); e != nil {
			err = fmt.Errorf("%w: %s=%q: %v", errUsage, name, v, e)
		}
	})
	return err
}

// commonConfig are the flags every long-running subcommand has.
type commonConfig struct {
	databaseURL string
	dataDir     string
	logFormat   string
	logLevel    slog.Level

	// pgBinDirs overrides where the embedded server's binaries are looked
	// for (tests).
	pgBinDirs []string
}

func (c *commonConfig) register(fs *flag.FlagSet) {
	fs.StringVar(&c.databaseURL, "database-url", "", "PostgreSQL URL (also DATABASE_URL); when unset, an embedded private PostgreSQL runs under --data-dir")
	fs.StringVar(&c.dataDir, "data-dir", "./data", "directory of the embedded PostgreSQL (used when --database-url is unset)")
	fs.StringVar(&c.logFormat, "log-format", "text", "log format on stderr: text or json")
	fs.TextVar(&c.logLevel, "log-level", slog.LevelInfo, "log level: debug, info, warn or error")
}

func (c *commonConfig) validate() error {
	if c.logFormat != "text" && c.logFormat != "json" {
		return fmt.Errorf("%w: --log-format must be text or json, not %q", errUsage, c.logFormat)
	}
	if c.databaseURL == "" && c.dataDir == "" {
		return fmt.Errorf("%w: one of --database-url or --data-dir is required", errUsage)
	}
	return nil
}

var commonFallbacks = map[string]string{"database-url": "DATABASE_URL"}

func newFlagSet(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("smsledger "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: smsledger %s [flags]\n\nFlags (each also settable as the environment variable shown):\n", name)
		fs.VisitAll(func(f *flag.Flag) {
			env := envName(f.Name)
			if fb := commonFallbacks[f.Name]; fb != "" {
				env += ", " + fb
			}
			fmt.Fprintf(stderr, "  --%s\n\t%s [%s]", f.Name, f.Usage, env)
			if f.DefValue != "" {
				fmt.Fprintf(stderr, " (default %q)", f.DefValue)
			}
			fmt.Fprintln(stderr)
		})
	}
	return fs
}

func newLogger(w io.Writer, c commonConfig) *slog.Logger {
	opts := &slog.HandlerOptions{Level: c.logLevel}
	if c.logFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
