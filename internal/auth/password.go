package auth

import (
	"bufio"
	"crypto/rand"
	"crypto/subtle"
	_ "embed"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"

	"github.com/switchboard/switchboard/internal/apperr"
)

// HashParams are argon2id's cost parameters.
type HashParams struct {
	MemoryKiB   uint32
	Iterations  uint32
	Parallelism uint8
}

// DefaultHashParams are one of OWASP's equivalent argon2id settings:
// 7 MiB, five passes, one lane. OWASP lists it beside 19 MiB with two
// passes as giving the same protection, trading memory for passes; the
// smaller block keeps a node's peak memory low, since each hash in flight
// holds its whole block.
var DefaultHashParams = HashParams{MemoryKiB: 7 * 1024, Iterations: 5, Parallelism: 1}

const (
	saltLen        = 16
	keyLen         = 32
	minPasswordLen = 8
	maxPasswordLen = 128
	// Bounds on the cost a stored hash may ask for, far above any sane
	// setting.
	maxHashMemoryKiB  = 1 << 20 // 1 GiB
	maxHashIterations = 64
)

// hashSlots bounds how many argon2 computations run at once. Each holds
// its full memory cost (7 MiB by default) until it ends, so a burst of
// sign-ins would otherwise grow the heap by that much per concurrent
// request; beyond one per core they only queue for the CPU anyway.
var hashSlots = make(chan struct{}, min(runtime.GOMAXPROCS(0), 4))

// collectAfterHashKiB is the block size from which a hash is followed by
// a collection (see idKey).
const collectAfterHashKiB = 1024

// idKey is argon2.IDKey within hashSlots.
func idKey(pw, salt []byte, p HashParams, n uint32) []byte {
	hashSlots <- struct{}{}
	defer func() { <-hashSlots }()
	key := argon2.IDKey(pw, salt, p.Iterations, p.MemoryKiB, p.Parallelism, n)
	// The block is garbage now. Collecting it before the slot is free lets
	// the next hash reuse its pages; left to the pacer, every hash of a
	// burst would take fresh pages and the heap (and the node's peak
	// memory) would grow by a block per hash before the next cycle. With
	// the small live heap of a node a cycle costs about a millisecond,
	// against tens for the hash. A small block is left to the pacer.
	if p.MemoryKiB >= collectAfterHashKiB {
		runtime.GC()
	}
	return key
}

// hashPassword returns a PHC-formatted argon2id hash of pw.
func hashPassword(pw string, p HashParams) (string, error) {
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("password salt: %w", err)
	}
	key := idKey([]byte(pw), salt, p, keyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.MemoryKiB, p.Iterations,
		p.Parallelism, base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key)), nil
}

var errBadHash = errors.New("malformed password hash")

// hashParamsOf reads the cost parameters of a stored hash; ok is false for
// a malformed one.
func hashParamsOf(encoded string) (p HashParams, ok bool) {
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return p, false
	}
	_, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.MemoryKiB, &p.Iterations, &p.Parallelism)
	return p, err == nil
}

// verifyPassword reports whether pw matches the PHC hash, comparing in
// constant time with the parameters stored in the hash.
func verifyPassword(pw, encoded string) (bool, error) {
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false, errBadHash
	}
	var version int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return false, errBadHash
	}
	var p HashParams
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.MemoryKiB, &p.Iterations, &p.Parallelism); err != nil {
		return false, errBadHash
	}
	// argon2 panics on zero passes or lanes, and a stored hash must not be
	// able to make a login allocate without bound.
	if p.Iterations < 1 || p.Parallelism < 1 || p.Iterations > maxHashIterations || p.MemoryKiB > maxHashMemoryKiB {
		return false, errBadHash
	}
	salt, err := base64.RawStdEncoding.DecodeString(parts[4])
	if err != nil {
		return false, errBadHash
	}
	want, err := base64.RawStdEncoding.DecodeString(parts[5])
	if err != nil || len(want) == 0 {
		return false, errBadHash
	}
	got := idKey([]byte(pw), salt, p, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

//go:embed common_passwords.txt
var commonPasswordsText string

var (
	commonOnce      sync.Once
	commonPasswords map[string]struct{}
)

func isCommonPassword(pw string) bool {
	commonOnce.Do(func() {
		commonPasswords = make(map[string]struct{}, 8192)
		sc := bufio.NewScanner(strings.NewReader(commonPasswordsText))
		for sc.Scan() {
			if w := strings.TrimSpace(sc.Text()); w != "" {
				commonPasswords[strings.ToLower(w)] = struct{}{}
			}
		}
	})
	_, ok := commonPasswords[strings.ToLower(pw)]
	return ok
}

// checkPassword applies the password policy: 8–128 characters, not one of
// the most common passwords, no composition rules (NIST SP 800-63B).
func checkPassword(field, pw string) error {
	n := utf8.RuneCountInString(pw)
	switch {
	case !utf8.ValidString(pw):
		return apperr.Invalid(apperr.FieldError{Field: field, Message: "must be valid UTF-8"})
	case n < minPasswordLen:
		return apperr.Invalid(apperr.FieldError{Field: field, Message: fmt.Sprintf("must be at least %d characters", minPasswordLen)})
	case n > maxPasswordLen:
		return apperr.Invalid(apperr.FieldError{Field: field, Message: fmt.Sprintf("must be at most %d characters", maxPasswordLen)})
	case isCommonPassword(pw):
		return apperr.Invalid(apperr.FieldError{Field: field, Message: "is one of the most commonly used passwords; choose another"})
	}
	return nil
}
