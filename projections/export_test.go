package projections

// SetBeforeCommit installs a hook that runs inside every batch transaction
// just before its commit (crash injection in tests).
func SetBeforeCommit(o *Options, f func(evs []Event) error) { o.beforeCommit = f }

// SetReplayCDRHorizon makes a replay write its CDRs after n quiet events
// instead of replayCDRHorizon (tests: late events update written rows).
func SetReplayCDRHorizon(o *ReplayOptions, n int) { o.cdrHorizon = n }
