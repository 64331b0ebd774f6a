package ids_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/smsledger/smsledger/domain/ids"
)

func TestTimeOrderedKeepsParentTimeAndIsDeterministic(t *testing.T) {
	parent := uuid.Must(uuid.NewV7())
	a := ids.TimeOrdered(parent, uuid.NewSHA1(parent, []byte{0}))
	b := ids.TimeOrdered(parent, uuid.NewSHA1(parent, []byte{0}))
	c := ids.TimeOrdered(parent, uuid.NewSHA1(parent, []byte{1}))
	if a != b {
		t.Fatalf("same input, different ids: %s %s", a, b)
	}
	if a == c {
		t.Fatalf("different names, same id %s", a)
	}
	if !bytes.Equal(a[:6], parent[:6]) {
		t.Errorf("id %s does not start with parent %s's time", a, parent)
	}
	if a.Version() != 8 || a.Variant() != uuid.RFC4122 {
		t.Errorf("id %s: version %d variant %v, want 8 and RFC 4122/9562", a, a.Version(), a.Variant())
	}
}

func TestTimeOrderedSortsByParentTime(t *testing.T) {
	// Parents made in increasing milliseconds: their derived ids sort the
	// same way, whatever the hash says.
	base := time.Now()
	var prev uuid.UUID
	for i := range 1000 {
		parent := v7At(base.Add(time.Duration(i) * time.Millisecond))
		id := ids.TimeOrdered(parent, uuid.NewSHA1(parent, []byte("x")))
		if i > 0 && bytes.Compare(prev[:], id[:]) >= 0 {
			t.Fatalf("id %d (%s) does not sort after %s", i, id, prev)
		}
		prev = id
	}
}

// v7At makes a UUIDv7 for the given millisecond.
func v7At(at time.Time) uuid.UUID {
	u := uuid.Must(uuid.NewV7())
	ms := uint64(at.UnixMilli())
	for i := 5; i >= 0; i-- {
		u[i] = byte(ms)
		ms >>= 8
	}
	return u
}
