package auth

import (
	"bufio"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"

	"golang.org/x/crypto/bcrypt"
)

// Htpasswd is a set of users and their bcrypt password hashes, as
// `htpasswd -B` writes them. It is safe for concurrent use.
type Htpasswd struct {
	users map[string][]byte

	// verified remembers, per user, a hash of the last password that
	// matched, keyed by a secret of this process: bcrypt takes tens of
	// milliseconds by design, and a client sending Basic credentials on
	// every request would pay that on every blob. At most one entry per
	// user of the file, so bounded by the file.
	mu       sync.Mutex
	verified map[string][32]byte
	secret   [32]byte

	// dummy is compared against when the user is unknown, so that an
	// unknown user takes as long to refuse as a wrong password: a hash
	// of the highest cost in the file, made when first needed.
	dummy func() []byte
}

// LoadHtpasswd reads an htpasswd file.
func LoadHtpasswd(path string) (*Htpasswd, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("htpasswd file: %w", err)
	}
	defer f.Close()
	h, err := ParseHtpasswd(f)
	if err != nil {
		return nil, fmt.Errorf("htpasswd file %s: %w", path, err)
	}
	return h, nil
}

// ParseHtpasswd reads htpasswd lines ("user:hash"). Blank lines and lines
// starting with # are skipped. Only bcrypt hashes ($2a$, $2b$, $2y$) are
// accepted: the file's other hash kinds (MD5 $apr1$, SHA-1 {SHA}, crypt,
// plain text) are refused with an error naming the line, since they are
// too fast to guess against.
func ParseHtpasswd(r io.Reader) (*Htpasswd, error) {
	h := &Htpasswd{users: map[string][]byte{}, verified: map[string][32]byte{}}
	if _, err := io.ReadFull(randReader, h.secret[:]); err != nil {
		return nil, fmt.Errorf("random secret: %w", err)
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 4096), 64*1024)
	n, maxCost := 0, bcrypt.MinCost
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		user, hash, ok := strings.Cut(line, ":")
		if !ok {
			return nil, fmt.Errorf("line %d: want USER:HASH, found no colon", n)
		}
		if user == "" {
			return nil, fmt.Errorf("line %d: empty user name", n)
		}
		if _, dup := h.users[user]; dup {
			return nil, fmt.Errorf("line %d: user %q is listed twice", n, user)
		}
		cost, err := checkHash(hash)
		if err != nil {
			return nil, fmt.Errorf("line %d: user %q: %w", n, user, err)
		}
		h.users[user] = []byte(hash)
		maxCost = max(maxCost, cost)
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, fmt.Errorf("line %d: longer than 64 KiB", n+1)
		}
		return nil, err
	}
	h.dummy = sync.OnceValue(func() []byte {
		d, _ := bcrypt.GenerateFromPassword([]byte("gantry-no-such-user"), maxCost)
		return d
	})
	return h, nil
}

// checkHash accepts bcrypt hashes, and returns their cost; it names the
// kind of any other.
func checkHash(hash string) (int, error) {
	const want = "only bcrypt hashes are accepted (htpasswd -B)"
	switch {
	case strings.HasPrefix(hash, "$2a$"), strings.HasPrefix(hash, "$2b$"), strings.HasPrefix(hash, "$2y$"):
		cost, err := bcrypt.Cost([]byte(hash))
		if err != nil {
			return 0, fmt.Errorf("malformed bcrypt hash: %v", err)
		}
		return cost, nil
	case strings.HasPrefix(hash, "$apr1$"):
		return 0, errors.New("MD5 ($apr1$) hash: " + want)
	case strings.HasPrefix(hash, "{SHA}"):
		return 0, errors.New("SHA-1 ({SHA}) hash: " + want)
	case strings.HasPrefix(hash, "$5$"), strings.HasPrefix(hash, "$6$"), strings.HasPrefix(hash, "$1$"):
		return 0, errors.New("crypt(3) hash: " + want)
	case hash == "":
		return 0, errors.New("empty password hash: " + want)
	}
	return 0, errors.New("plain-text or crypt password: " + want)
}

// Users returns the number of users.
func (h *Htpasswd) Users() int { return len(h.users) }

// Has reports whether user is in the file.
func (h *Htpasswd) Has(user string) bool {
	_, ok := h.users[user]
	return ok
}

// Verify reports whether password is user's.
func (h *Htpasswd) Verify(user, password string) bool {
	hash, known := h.users[user]
	key := h.key(user, password)
	if known {
		h.mu.Lock()
		seen, ok := h.verified[user]
		h.mu.Unlock()
		if ok && subtle.ConstantTimeCompare(seen[:], key[:]) == 1 {
			return true
		}
	} else {
		hash = h.dummy()
	}
	ok := bcrypt.CompareHashAndPassword(hash, []byte(password)) == nil && known
	if ok {
		h.mu.Lock()
		h.verified[user] = key
		h.mu.Unlock()
	}
	return ok
}

func (h *Htpasswd) key(user, password string) [32]byte {
	sum := sha256.New()
	sum.Write(h.secret[:])
	sum.Write([]byte(user))
	sum.Write([]byte{0})
	sum.Write([]byte(password))
	var k [32]byte
	copy(k[:], sum.Sum(nil))
	return k
}
