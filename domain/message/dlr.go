package message

// DLR receipt statuses: the seven standard "stat:" words of SMPP v3.4
// delivery receipts (appendix B) and UNKNOWN. Adapters fold vendor words
// onto these (adapters/smpp/receipt); the domain, the projections and the
// adapters all use these constants.
const (
	DLRDelivered     = "DELIVRD"
	DLRUndeliverable = "UNDELIV"
	DLRExpired       = "EXPIRED"
	DLRRejected      = "REJECTD"
	DLRDeleted       = "DELETED"
	DLRUnknown       = "UNKNOWN"
	DLRAccepted      = "ACCEPTD"
	DLREnroute       = "ENROUTE"
)

// DLROutcome maps a receipt status to the message state it leads to. final
// is false for the intermediate statuses (ACCEPTD, ENROUTE), which leave the
// state as it is. Every other status is final: DELIVRD gives delivered,
// EXPIRED expired, REJECTD rejected, and anything else (UNDELIV, DELETED,
// UNKNOWN, or a word no standard names) undelivered.
func DLROutcome(status string) (state State, final bool) {
	switch status {
	case DLRDelivered:
		return StateDelivered, true
	case DLRExpired:
		return StateExpired, true
	case DLRRejected:
		return StateRejected, true
	case DLRAccepted, DLREnroute:
		return "", false
	}
	return StateUndelivered, true
}

// DLRFinal reports whether a receipt status ends the message (see
// DLROutcome): anything but ACCEPTD and ENROUTE.
func DLRFinal(status string) bool {
	_, final := DLROutcome(status)
	return final
}
