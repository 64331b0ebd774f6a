package projections

// SetBeforeCommit installs a hook that runs inside every batch transaction
// just before its commit (crash injection in tests).
func SetBeforeCommit(o *Options, f func(evs []Event) error) { o.beforeCommit = f }
