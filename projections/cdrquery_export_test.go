package projections

// CDRQuerySQL is the SQL and arguments QueryCDRs runs for a first page of
// q (tests look at its plan).
func CDRQuerySQL(q CDRQuery) (string, []any) {
	if q.Limit <= 0 {
		q.Limit = 100
	}
	sql, args := cdrQuerySQL(LiveSchema, q, q.From, [16]byte{})
	return sql, args
}

// CDRUpdateSQL is the UPDATE the CDR projector runs per month of a batch.
func CDRUpdateSQL() string { return cdrUpdateSQL(ident(LiveSchema)) }

// CDRUpdatePlanSettings are the settings the CDR projector runs its UPDATE
// under (on) and restores after it (off).
func CDRUpdatePlanSettings() (on, off string) { return cdrUpdatePlanOn, cdrUpdatePlanOff }
