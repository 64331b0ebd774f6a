package fastjson

import (
	"encoding/json"
	"reflect"
)

// Codec is the JSON codec of struct type T: the one encode path and the
// one decode path of the event catalogue and the event store's metadata.
// Its results are always encoding/json's: the Encoder and Decoder handle
// the shapes those types write in one pass, and the Codec hands anything
// else (a map with entries, an escaped string, a member spelled in
// another case, malformed JSON...) to encoding/json itself.
type Codec[T any] struct {
	enc *Encoder
	dec *Decoder
}

// For returns the codec of struct type T; make it once (its plans are
// computed here) and share it: it is safe for concurrent use.
func For[T any]() *Codec[T] {
	t := reflect.TypeFor[T]()
	return &Codec[T]{enc: NewEncoder(t), dec: NewDecoder(t)}
}

// Append appends the bytes json.Marshal(v) writes to dst, or returns its
// error (dst unchanged).
func (c *Codec[T]) Append(dst []byte, v *T) ([]byte, error) {
	if out, ok := c.enc.AppendValue(dst, reflect.ValueOf(v).Elem()); ok {
		return out, nil
	}
	return marshal(dst, *v)
}

// marshal is Append by encoding/json, of a copy: json.Marshal's argument
// escapes to the heap, and the caller's value then need not.
func marshal[T any](dst []byte, v T) ([]byte, error) {
	b, err := json.Marshal(&v)
	if err != nil {
		return dst, err
	}
	return append(dst, b...), nil
}

// Unmarshal sets *v to what json.Unmarshal decodes from data into a zero
// T, or returns its error.
func (c *Codec[T]) Unmarshal(data []byte, v *T) error {
	var zero T
	*v = zero
	if c.dec.Decode(data, v) {
		return nil
	}
	*v = zero
	return unmarshal(data, v)
}

// unmarshal is Unmarshal by encoding/json, into a copy (see marshal).
func unmarshal[T any](data []byte, v *T) error {
	var w T
	err := json.Unmarshal(data, &w)
	*v = w
	return err
}
