// Package ca is stanzascope's local certificate authority: one ECDSA P-256 root kept in the
// user's config directory, and leaf certificates made on demand for the domains a client
// asks for, so the proxy can terminate TLS toward clients that trust the root.
package ca

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// File names inside the CA directory.
const (
	CertFile = "stanzascope-ca.pem"
	KeyFile  = "stanzascope-ca-key.pem"
)

// maxCached bounds the leaf cache: the domain comes from the client (SNI, stream to), so an
// unbounded cache would let a client grow the proxy's memory at will.
const maxCached = 1024

// CA is a loaded root certificate and key. Its methods are safe for concurrent use.
type CA struct {
	dir     string
	cert    *x509.Certificate
	certDER []byte
	key     *ecdsa.PrivateKey
	leafKey *ecdsa.PrivateKey // one key for every leaf: making keys per domain buys nothing here

	mu    sync.Mutex
	cache map[string]*tls.Certificate
}

// DefaultDir returns $XDG_CONFIG_HOME/stanzascope, or ~/.config/stanzascope.
func DefaultDir() (string, error) {
	if x := os.Getenv("XDG_CONFIG_HOME"); x != "" {
		return filepath.Join(x, "stanzascope"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("ca: no config directory: %w", err)
	}
	return filepath.Join(home, ".config", "stanzascope"), nil
}

// LoadOrCreate loads the CA kept in dir, creating the directory (0700), the certificate
// (0644) and the key (0600) when neither file exists. An empty dir means DefaultDir. It
// returns an error when only one of the two files exists or either is unreadable.
func LoadOrCreate(dir string) (*CA, error) {
	if dir == "" {
		d, err := DefaultDir()
		if err != nil {
			return nil, err
		}
		dir = d
	}
	certPath, keyPath := filepath.Join(dir, CertFile), filepath.Join(dir, KeyFile)
	_, certErr := os.Stat(certPath)
	_, keyErr := os.Stat(keyPath)
	switch {
	case certErr == nil && keyErr == nil:
		return load(dir)
	case errors.Is(certErr, os.ErrNotExist) && errors.Is(keyErr, os.ErrNotExist):
		if err := create(dir); err != nil {
			return nil, err
		}
		return load(dir)
	case certErr == nil:
		return nil, fmt.Errorf("ca: %s exists but its key %s is missing (%v)", certPath, keyPath, keyErr)
	default:
		return nil, fmt.Errorf("ca: %s exists but its certificate %s is missing (%v)", keyPath, certPath, certErr)
	}
}

func create(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("ca: create %s: %w", dir, err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("ca: generate key: %w", err)
	}
	host, _ := os.Hostname()
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          randomSerial(),
		Subject:               pkix.Name{Organization: []string{"stanzascope"}, CommonName: "stanzascope local CA " + host},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.AddDate(10, 0, 0),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return fmt.Errorf("ca: create certificate: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return fmt.Errorf("ca: encode key: %w", err)
	}
	// The key goes first so a crash in between leaves "key without cert", which
	// LoadOrCreate reports instead of silently making a second root.
	if err := writeFile(filepath.Join(dir, KeyFile), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		return err
	}
	return writeFile(filepath.Join(dir, CertFile), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
}

// writeFile writes through a temporary file and a rename, so readers never see half a file.
func writeFile(path string, data []byte, perm os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return fmt.Errorf("ca: write %s: %w", path, err)
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	if err := f.Chmod(perm); err != nil {
		f.Close()
		return fmt.Errorf("ca: write %s: %w", path, err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("ca: write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("ca: write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("ca: write %s: %w", path, err)
	}
	return nil
}

func load(dir string) (*CA, error) {
	certPath, keyPath := filepath.Join(dir, CertFile), filepath.Join(dir, KeyFile)
	certPEM, err := os.ReadFile(certPath)
	if err != nil {
		return nil, fmt.Errorf("ca: %w", err)
	}
	keyPEM, err := os.ReadFile(keyPath)
	if err != nil {
		return nil, fmt.Errorf("ca: %w", err)
	}
	cb, _ := pem.Decode(certPEM)
	if cb == nil || cb.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("ca: %s: no PEM CERTIFICATE block", certPath)
	}
	cert, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		return nil, fmt.Errorf("ca: %s: %w", certPath, err)
	}
	if !cert.IsCA {
		return nil, fmt.Errorf("ca: %s is not a CA certificate", certPath)
	}
	kb, _ := pem.Decode(keyPEM)
	if kb == nil {
		return nil, fmt.Errorf("ca: %s: no PEM block", keyPath)
	}
	anyKey, err := x509.ParsePKCS8PrivateKey(kb.Bytes)
	if err != nil {
		return nil, fmt.Errorf("ca: %s: %w", keyPath, err)
	}
	key, ok := anyKey.(*ecdsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("ca: %s: not an ECDSA key", keyPath)
	}
	if !key.PublicKey.Equal(cert.PublicKey) {
		return nil, fmt.Errorf("ca: %s does not match %s", keyPath, certPath)
	}
	leafKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("ca: generate leaf key: %w", err)
	}
	return &CA{dir: dir, cert: cert, certDER: cb.Bytes, key: key, leafKey: leafKey, cache: map[string]*tls.Certificate{}}, nil
}

// Dir returns the directory the CA lives in.
func (c *CA) Dir() string { return c.dir }

// CertPath returns the path of the root certificate (PEM), the file clients must trust.
func (c *CA) CertPath() string { return filepath.Join(c.dir, CertFile) }

// Certificate returns the root certificate.
func (c *CA) Certificate() *x509.Certificate { return c.cert }

// Fingerprint returns the SHA-256 of the root certificate as colon-separated upper-case hex.
func (c *CA) Fingerprint() string {
	sum := sha256.Sum256(c.certDER)
	return strings.ReplaceAll(fmt.Sprintf("% X", sum[:]), " ", ":")
}

// Pool returns a certificate pool holding only the root, for clients in tests and tools.
func (c *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(c.cert)
	return p
}

// Leaf returns a certificate for domain signed by the root, with the root in its chain.
// Certificates are cached per domain. It returns an error for a name that is not a valid
// host name.
func (c *CA) Leaf(domain string) (*tls.Certificate, error) {
	domain, err := normalise(domain)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if crt, ok := c.cache[domain]; ok {
		return crt, nil
	}
	crt, err := c.makeLeaf(domain)
	if err != nil {
		return nil, err
	}
	if len(c.cache) >= maxCached {
		for k := range c.cache { // evict one at random: cheap and good enough for a bound
			delete(c.cache, k)
			break
		}
	}
	c.cache[domain] = crt
	return crt, nil
}

func (c *CA) makeLeaf(domain string) (*tls.Certificate, error) {
	now := time.Now()
	notAfter := now.AddDate(1, 0, 0)
	if notAfter.After(c.cert.NotAfter) {
		notAfter = c.cert.NotAfter
	}
	tmpl := &x509.Certificate{
		SerialNumber: randomSerial(),
		Subject:      pkix.Name{Organization: []string{"stanzascope"}, CommonName: domain},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	if ip := net.ParseIP(domain); ip != nil {
		tmpl.IPAddresses = []net.IP{ip}
	} else {
		tmpl.DNSNames = []string{domain}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, c.cert, &c.leafKey.PublicKey, c.key)
	if err != nil {
		return nil, fmt.Errorf("ca: leaf for %q: %w", domain, err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("ca: leaf for %q: %w", domain, err)
	}
	return &tls.Certificate{Certificate: [][]byte{der, c.certDER}, PrivateKey: c.leafKey, Leaf: leaf}, nil
}

func randomSerial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil { // crypto/rand does not fail on supported platforms
		return big.NewInt(time.Now().UnixNano())
	}
	return n
}
