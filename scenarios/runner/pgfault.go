package runner

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/smsledger/smsledger/adapters/pgembed"
)

// externalDB is the PostgreSQL a restart_postgres scenario runs serve on:
// an embedded server (adapters/pgembed) on the runner's own data directory,
// reached through a TCP forwarder on a fixed loopback port, because pgembed
// picks a new port at every start. While the server is down the forwarder
// accepts and closes connections, as a stopped server's host would refuse
// them.
type externalDB struct {
	dir string
	log *slog.Logger
	ln  net.Listener

	mu    sync.Mutex
	inst  *pgembed.Instance // nil while down
	conns map[net.Conn]bool
	wg    sync.WaitGroup
}

func startExternalDB(ctx context.Context, dir string, log *slog.Logger) (*externalDB, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	db := &externalDB{dir: dir, log: log, ln: ln, conns: map[net.Conn]bool{}}
	if err := db.start(ctx); err != nil {
		_ = ln.Close()
		return nil, err
	}
	db.wg.Add(1)
	go func() {
		defer db.wg.Done()
		db.accept()
	}()
	return db, nil
}

// URL is the forwarder's URL of the database (the instance's credentials).
func (db *externalDB) URL() string {
	db.mu.Lock()
	defer db.mu.Unlock()
	u, err := url.Parse(db.inst.URL())
	if err != nil {
		return ""
	}
	u.Host = db.ln.Addr().String()
	return u.String()
}

// target is the server's own address ("" while it is down): a cluster's
// nodes reach it through proxies of their own (cluster.go).
func (db *externalDB) target() string {
	db.mu.Lock()
	defer db.mu.Unlock()
	if db.inst == nil {
		return ""
	}
	return "127.0.0.1:" + strconv.Itoa(db.inst.Port())
}

// urlAt is the database's URL with addr as its host and port.
func (db *externalDB) urlAt(addr string) string {
	u, err := url.Parse(db.URL())
	if err != nil {
		return ""
	}
	u.Host = addr
	return u.String()
}

func (db *externalDB) start(ctx context.Context) error {
	inst, err := pgembed.Start(ctx, pgembed.Config{DataDir: db.dir, Logger: db.log, StartTimeout: time.Minute})
	if err != nil {
		return fmt.Errorf("runner: start postgres: %w", err)
	}
	db.mu.Lock()
	db.inst = inst
	db.mu.Unlock()
	return nil
}

// stop shuts the server down (fast shutdown: sessions are terminated) and
// cuts every forwarded connection.
func (db *externalDB) stop(ctx context.Context) error {
	db.mu.Lock()
	inst := db.inst
	db.inst = nil
	for c := range db.conns {
		_ = c.Close()
	}
	db.mu.Unlock()
	if inst == nil {
		return nil
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	return inst.Stop(sctx)
}

// Close stops the server and the forwarder.
func (db *externalDB) Close(ctx context.Context) error {
	_ = db.ln.Close()
	err := db.stop(ctx)
	db.wg.Wait()
	return err
}

func (db *externalDB) accept() {
	for {
		c, err := db.ln.Accept()
		if err != nil {
			return
		}
		db.mu.Lock()
		inst := db.inst
		if inst != nil {
			db.conns[c] = true
		}
		db.mu.Unlock()
		if inst == nil {
			_ = c.Close() // down
			continue
		}
		db.wg.Add(1)
		go func() {
			defer db.wg.Done()
			db.forward(c, "127.0.0.1:"+strconv.Itoa(inst.Port()))
		}()
	}
}

func (db *externalDB) forward(c net.Conn, target string) {
	defer func() {
		_ = c.Close()
		db.mu.Lock()
		delete(db.conns, c)
		db.mu.Unlock()
	}()
	up, err := net.DialTimeout("tcp", target, 5*time.Second)
	if err != nil {
		return
	}
	db.mu.Lock()
	db.conns[up] = true
	db.mu.Unlock()
	defer func() {
		_ = up.Close()
		db.mu.Lock()
		delete(db.conns, up)
		db.mu.Unlock()
	}()
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(up, c); done <- struct{}{} }()
	go func() { _, _ = io.Copy(c, up); done <- struct{}{} }()
	<-done
}
