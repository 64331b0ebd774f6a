package main

import (
	"crypto/tls"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/linxGnu/gosmpp/data"
	"github.com/linxGnu/gosmpp/pdu"
	"github.com/smsledger/smsledger/internal/testcert"
)

// TestServeTLS: with a certificate, HTTP and SMPP both speak TLS only.
func TestServeTLS(t *testing.T) {
	c := testcert.New(t)
	certFile, keyFile := c.Files(t)
	pool := c.Pool
	info, stop := serveInProcess(t, "--admin-token", "admin-token-0123456789", "--tls-cert-file", certFile, "--tls-key-file", keyFile)
	tlsConf := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}

	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: tlsConf}}
	resp, err := client.Get("https://" + info.HTTPAddr + "/healthz")
	if err != nil {
		t.Fatalf("https /healthz: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("https /healthz: %d", resp.StatusCode)
	}
	if resp, err := (&http.Client{Timeout: 5 * time.Second}).Get("http://" + info.HTTPAddr + "/healthz"); err == nil && resp.StatusCode == 200 {
		resp.Body.Close()
		t.Fatal("plain HTTP answered 200 on a TLS listener")
	}

	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", info.SMPPAddr, tlsConf)
	if err != nil {
		t.Fatalf("smpp over tls: %v", err)
	}
	defer conn.Close()
	bind := pdu.NewBindTransceiver().(*pdu.BindRequest)
	bind.SystemID, bind.Password, bind.InterfaceVersion = "nobody", "pw", data.SMPP_V34
	buf := pdu.NewBuffer(nil)
	bind.Marshal(buf)
	if _, err := conn.Write(buf.Bytes()); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	p, err := pdu.Parse(conn)
	if err != nil {
		t.Fatalf("bind_resp over tls: %v", err)
	}
	if _, ok := p.(*pdu.BindResp); !ok || p.GetHeader().CommandStatus != data.ESME_RINVPASWD {
		t.Fatalf("bind of an unknown system_id over tls: %T status 0x%X", p, uint32(p.GetHeader().CommandStatus))
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}
