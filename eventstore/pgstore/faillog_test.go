package pgstore

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// While the database is down every batch fails: the warnings are spaced,
// and the next one says how many batches failed meanwhile.
func TestFailedBatchWarningsAreSpaced(t *testing.T) {
	var out bytes.Buffer
	s := &Store{opts: Options{Logger: slog.New(slog.NewTextHandler(&out, nil))}}
	for i := 0; i < 100; i++ {
		s.logFailedBatch(3, 9, errors.New("connection refused"))
	}
	if n := strings.Count(out.String(), "batch not committed"); n != 1 {
		t.Fatalf("%d warnings for 100 failed batches in a burst, want 1:\n%s", n, out.String())
	}
	s.failLogged = time.Now().Add(-failedBatchLogEvery) // as if a second went by
	s.logFailedBatch(3, 9, errors.New("connection refused"))
	if n := strings.Count(out.String(), "batch not committed"); n != 2 || !strings.Contains(out.String(), "failed_batches_since_last_warning=100") {
		t.Fatalf("after the spacing: %d warnings, want 2 with the 99 silenced + this one counted:\n%s", n, out.String())
	}
}
