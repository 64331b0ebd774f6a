package pgstore

import (
	"bytes"
	"testing"
)

// carve packs copies of small event data into shared blocks: each copy
// equals its source, survives the source changing, and an append to one
// never writes into the next (its capacity is its length).
func TestCarve(t *testing.T) {
	var arena []byte
	var copies [][]byte
	var sources [][]byte
	for i := range 40 {
		src := bytes.Repeat([]byte{byte('a' + i%26)}, 1+i*37%(scanArenaBytes/2))
		var c []byte
		c, arena = carve(arena, src)
		copies, sources = append(copies, c), append(sources, append([]byte(nil), src...))
		src[0] = '!' // the driver's buffer is reused for the next row
	}
	for i, c := range copies {
		if !bytes.Equal(c, sources[i]) || cap(c) != len(c) {
			t.Fatalf("copy %d: %d bytes (cap %d), want %d of %q", i, len(c), cap(c), len(sources[i]), sources[i][:1])
		}
	}
	_ = append(copies[0], "overwrite"...)
	if !bytes.Equal(copies[1], sources[1]) {
		t.Fatal("an append to one copy wrote into the next")
	}
}
