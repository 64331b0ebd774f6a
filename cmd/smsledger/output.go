package main

import (
	"encoding/json"
	"io"
)

// writeJSON writes v to w as indented JSON: the machine-readable output of
// the subcommands (--json, --format json).
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
