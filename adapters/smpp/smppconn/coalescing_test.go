package smppconn

import (
	"bufio"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// tcpPair returns both ends of a loopback TCP connection.
func tcpPair(t *testing.T) (client, server net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server = <-accepted
	if server == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { client.Close(); server.Close() })
	return client, server
}

// Records written from several goroutines arrive whole, none lost, each
// writer's in its order; Close sends what is still pending.
func TestCoalescingConnKeepsWritesWhole(t *testing.T) {
	client, server := tcpPair(t)
	c := newCoalescingConn(client, 5*time.Second)
	const writers, perWriter = 4, 2000
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < perWriter; i++ {
				// A PDU-like record: length, writer, sequence, padding.
				rec := make([]byte, 12+i%50)
				binary.BigEndian.PutUint32(rec[0:], uint32(len(rec)))
				binary.BigEndian.PutUint32(rec[4:], uint32(w))
				binary.BigEndian.PutUint32(rec[8:], uint32(i))
				if _, err := c.Write(rec); err != nil {
					t.Errorf("write: %v", err)
					return
				}
			}
		}(w)
	}
	got := make(chan error, 1)
	go func() {
		r := bufio.NewReader(server)
		next := make([]uint32, writers)
		for n := 0; n < writers*perWriter; n++ {
			var head [12]byte
			if _, err := io.ReadFull(r, head[:]); err != nil {
				got <- err
				return
			}
			size, w, seq := binary.BigEndian.Uint32(head[0:]), binary.BigEndian.Uint32(head[4:]), binary.BigEndian.Uint32(head[8:])
			if w >= writers || seq != next[w] || size != uint32(12+seq%50) {
				got <- errors.New("record out of order or torn")
				return
			}
			next[w]++
			if _, err := io.CopyN(io.Discard, r, int64(size-12)); err != nil {
				got <- err
				return
			}
		}
		got <- nil
	}()
	wg.Wait()
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-got:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("records not all received within 20s")
	}
	if _, err := c.Write([]byte("x")); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("write after close: %v", err)
	}
}

// A connection the peer has gone from fails the writes that follow.
func TestCoalescingConnReportsWriteFailure(t *testing.T) {
	client, server := tcpPair(t)
	c := newCoalescingConn(client, time.Second)
	defer c.Close()
	server.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := c.Write(make([]byte, 4096)); err != nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("writes to a closed peer still succeed after 10s")
		}
		time.Sleep(time.Millisecond)
	}
}
