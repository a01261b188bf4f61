package imageconfig

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
)

// Cache keeps looked-up configs by key (a digest and a platform). A digest
// names content, so an entry never goes stale.
type Cache interface {
	Get(key string) (Config, bool)
	Put(key string, c Config) error
}

// MemoryCache is a Cache for one process (a webhook).
type MemoryCache struct {
	mu sync.Mutex
	m  map[string]Config
}

// Get returns the config stored under key.
func (m *MemoryCache) Get(key string) (Config, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	c, ok := m.m[key]
	return c, ok
}

// Put stores c under key.
func (m *MemoryCache) Put(key string, c Config) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.m == nil {
		m.m = map[string]Config{}
	}
	m.m[key] = c
	return nil
}

// dirCache is a Cache in a directory, one JSON file per key, shared by the
// runs of a CLI (kubectl podseq inject in CI). Files are written atomically;
// an unreadable or corrupt file is a miss.
type dirCache struct {
	Dir string
}

func (d dirCache) path(key string) string {
	sum := sha256.Sum256([]byte(key))
	return filepath.Join(d.Dir, hex.EncodeToString(sum[:])+".json")
}

// Get returns the config stored under key.
func (d dirCache) Get(key string) (Config, bool) {
	b, err := os.ReadFile(d.path(key))
	if err != nil {
		return Config{}, false
	}
	var e struct {
		Key    string `json:"key"`
		Config Config `json:"config"`
	}
	if json.Unmarshal(b, &e) != nil || e.Key != key {
		return Config{}, false
	}
	return e.Config, true
}

// Put stores c under key.
func (d dirCache) Put(key string, c Config) error {
	if d.Dir == "" {
		return errors.New("cache directory not set")
	}
	if err := os.MkdirAll(d.Dir, 0o755); err != nil {
		return err
	}
	b, err := json.Marshal(struct {
		Key    string `json:"key"`
		Config Config `json:"config"`
	}{key, c})
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(d.Dir, ".tmp-*")
	if err != nil {
		return err
	}
	_, werr := f.Write(b)
	cerr := f.Close()
	if err := errors.Join(werr, cerr); err != nil {
		os.Remove(f.Name())
		return err
	}
	if err := os.Chmod(f.Name(), 0o644); err != nil && !errors.Is(err, fs.ErrNotExist) {
		os.Remove(f.Name())
		return err
	}
	if err := os.Rename(f.Name(), d.path(key)); err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("cache: %w", err)
	}
	return nil
}
