package pgstore

// The statements of a read of another node's events, for the test of their
// plan (TestGapsPlanIsAnIndexScan).
const (
	GapsSQL     = gapsSQL
	GapsPlanSQL = gapsPlanSQL
)
