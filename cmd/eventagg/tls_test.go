package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// selfSigned writes a certificate for 127.0.0.1 and its key, and returns
// their paths and a pool that trusts the certificate.
func selfSigned(t *testing.T) (certFile, keyFile string, pool *x509.CertPool) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "eventagg test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(key)
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

func TestTLSAndAuthFile(t *testing.T) {
	certFile, keyFile, pool := selfSigned(t)
	authFile := filepath.Join(t.TempDir(), "keys")
	os.WriteFile(authFile, []byte("publisher-key-0123456789 publish\n"), 0o600)
	svc, err := startService(context.Background(), serveConfig{addr: "127.0.0.1:0", db: filepath.Join(t.TempDir(), "tls.db"),
		maxBody: 1 << 20, maxEvents: 100, maxQueued: 1000, tlsCert: certFile, tlsKey: keyFile, authFile: authFile},
		slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer svc.stop(10 * time.Second)
	if !strings.HasPrefix(svc.URL(), "https://") {
		t.Fatalf("URL %s", svc.URL())
	}
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	req, _ := http.NewRequest("POST", svc.URL()+"/publish", strings.NewReader(line("tls", "1")))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer publisher-key-0123456789")
	resp, err := c.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("publish over TLS: %v %v", resp, err)
	}
	resp.Body.Close()
	if resp, err := c.Get(svc.URL() + "/stats"); err != nil || resp.StatusCode != 401 {
		t.Fatalf("stats without a key: %v %v", resp, err)
	}
	// Plain HTTP to the TLS port gets net/http's 400, never the API.
	if resp, err := http.Get(strings.Replace(svc.URL(), "https", "http", 1) + "/healthz"); err == nil && resp.StatusCode == 200 {
		t.Fatal("plain HTTP was served")
	}
}

func TestStartErrorsForTLSAndAuth(t *testing.T) {
	db := filepath.Join(t.TempDir(), "x.db")
	bad := filepath.Join(t.TempDir(), "bad")
	os.WriteFile(bad, []byte("short read\n"), 0o600)
	for _, c := range []struct {
		cfg  serveConfig
		want string
	}{
		{serveConfig{tlsCert: "/nonexistent/cert.pem", tlsKey: "/nonexistent/key.pem"}, "--tls-cert/--tls-key"},
		{serveConfig{authFile: "/nonexistent/keys"}, "--auth-file"},
		{serveConfig{authFile: bad}, "line 1: key shorter than 16"},
	} {
		c.cfg.addr, c.cfg.db, c.cfg.maxBody, c.cfg.maxEvents, c.cfg.maxQueued = "127.0.0.1:0", db, 1<<20, 10, 10
		if _, err := startService(context.Background(), c.cfg, slog.New(slog.DiscardHandler)); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want %q", c.cfg, err, c.want)
		}
	}
}

// Without keys on a non-loopback address the service warns that it is open.
func TestOpenAPIOnNetworkWarns(t *testing.T) {
	var logs bytes.Buffer
	svc, err := startService(context.Background(), serveConfig{addr: "0.0.0.0:0", db: filepath.Join(t.TempDir(), "w.db"),
		maxBody: 1 << 20, maxEvents: 10, maxQueued: 10}, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	svc.stop(10 * time.Second)
	if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), "--auth-file") {
		t.Fatalf("no warning:\n%s", logs.String())
	}
}

// A client that sends headers too slowly (slowloris) is cut off after
// --read-header-timeout.
func TestSlowHeadersAreCutOff(t *testing.T) {
	svc, err := startService(context.Background(), serveConfig{addr: "127.0.0.1:0", db: filepath.Join(t.TempDir(), "slow.db"),
		maxBody: 1 << 20, maxEvents: 10, maxQueued: 10, timeouts: httpTimeouts{readHeader: 300 * time.Millisecond}},
		slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer svc.stop(10 * time.Second)
	conn, err := net.Dial("tcp", svc.ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.Write([]byte("POST /publish HTTP/1.1\r\nHost: x\r\n")) // and never the rest
	start := time.Now()
	conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	buf := make([]byte, 512)
	for {
		if _, err := conn.Read(buf); err != nil {
			break // closed by the server (or our 20 s guard)
		}
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Fatalf("connection held for %v", took)
	}
}

// publish, subscribe and bench all carry --key to a server with API keys.
func TestCommandsSendTheirKey(t *testing.T) {
	authFile := filepath.Join(t.TempDir(), "keys")
	os.WriteFile(authFile, []byte("tools-key-0123456789abcd publish,read\n"), 0o600)
	svc, err := startService(context.Background(), serveConfig{addr: "127.0.0.1:0", db: filepath.Join(t.TempDir(), "k.db"),
		maxBody: 1 << 20, maxEvents: 1000, maxQueued: 10000, authFile: authFile}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer svc.stop(10 * time.Second)
	keyEnv := env(map[string]string{"EVENTAGG_API_KEY": "tools-key-0123456789abcd"})
	var out, errOut syncBuffer
	if err := run(context.Background(), []string{"publish", "--url", svc.URL(), "--give-up", "1s"}, keyEnv,
		strings.NewReader(line("k", "1")), &out, &errOut); err != nil {
		t.Fatalf("publish: %v %s %s", err, out.String(), errOut.String())
	}
	if err := run(context.Background(), []string{"publish", "--url", svc.URL(), "--give-up", "1s"}, env(nil),
		strings.NewReader(line("k", "2")), &out, &errOut); err == nil || !strings.Contains(errOut.String(), "401") {
		t.Fatalf("publish without a key: %v %s", err, errOut.String())
	}
	ctx, cancel := context.WithCancel(context.Background())
	var sub syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"subscribe", "--url", svc.URL(), "--topic", "k", "--from-start"}, keyEnv, nil, &sub, &errOut)
	}()
	waitFor(t, func() bool { return strings.Contains(sub.String(), `"event_id":"1"`) })
	cancel()
	<-done
	var bout bytes.Buffer
	if err := run(context.Background(), []string{"bench", "--url", svc.URL(), "--events", "200", "--batch", "20", "--json"}, keyEnv, nil, &bout, &errOut); err != nil {
		t.Fatalf("bench with a key: %v %s", err, bout.String()[:min(len(bout.String()), 2000)])
	}
}
