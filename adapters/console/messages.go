package console

import "net/http"

// messageRoutes registers the pages of messages: find by id, destination or client_ref, and one message's timeline.
func (c *Console) messageRoutes(mux *http.ServeMux) {}
