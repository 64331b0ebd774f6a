// Package kurrentstore is the KurrentDB (EventStoreDB) backend of the event
// store, built on the official Go client.
package kurrentstore

import _ "github.com/EventStore/EventStore-Client-Go/v4/esdb"
