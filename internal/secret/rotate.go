package secret

import (
	"context"
	"fmt"
	"sort"
	"time"
)

// Store is one place sealed values live (a table column). Rotation and the
// start-up key check walk every registered Store.
type Store interface {
	// Name names the store in messages ("gateway credentials").
	Name() string
	// CountByKey returns how many values are sealed under each key id.
	CountByKey(ctx context.Context) (map[string]int64, error)
	// ResealBatch re-seals up to n values that are not sealed under kr's
	// primary key and returns how many it re-sealed. It must not overwrite
	// a value changed concurrently (compare-and-swap on the old value).
	ResealBatch(ctx context.Context, kr *Keyring, n int) (int, error)
}

// CheckKeys fails, naming the key and the store, when a stored value is
// sealed under a key the keyring lacks. Run it at start-up: a node without
// the key could not read those values.
func CheckKeys(ctx context.Context, kr *Keyring, stores ...Store) error {
	for _, s := range stores {
		counts, err := s.CountByKey(ctx)
		if err != nil {
			return fmt.Errorf("check sealing keys of %s: %w", s.Name(), err)
		}
		for _, id := range sortedKeys(counts) {
			if !kr.Has(id) {
				return fmt.Errorf("%d %s are sealed with key %s, which is not in the keyring; "+
					"restore that key (in <data-dir>/%s or SWITCHBOARD_SECRET_KEY, after the primary) before starting",
					counts[id], s.Name(), id, KeysFile)
			}
		}
	}
	return nil
}

// RotateOptions tune Reseal.
type RotateOptions struct {
	// Batch is how many values one transaction re-seals (default 100).
	Batch int
	// Pause is the wait between passes that still found values under old
	// keys, written meanwhile by servers that had not yet re-read the
	// keyring (default 250 ms).
	Pause time.Duration
	// Progress, when set, is told after each batch.
	Progress func(store string, resealed int)
}

// Reseal re-seals every value of every store under kr's primary key, in
// small transactions, while servers keep reading and writing. It returns
// when no value under another key remains, or when ctx ends.
func Reseal(ctx context.Context, kr *Keyring, opt RotateOptions, stores ...Store) (int, error) {
	if opt.Batch <= 0 {
		opt.Batch = 100
	}
	if opt.Pause <= 0 {
		opt.Pause = 250 * time.Millisecond
	}
	total := 0
	for {
		for _, s := range stores {
			for {
				n, err := s.ResealBatch(ctx, kr, opt.Batch)
				if err != nil {
					return total, fmt.Errorf("reseal %s: %w", s.Name(), err)
				}
				total += n
				if opt.Progress != nil && n > 0 {
					opt.Progress(s.Name(), n)
				}
				if n < opt.Batch {
					break
				}
			}
		}
		left, err := OldCount(ctx, kr, stores...)
		if err != nil {
			return total, err
		}
		if left == 0 {
			return total, nil
		}
		select {
		case <-ctx.Done():
			return total, fmt.Errorf("reseal: %d values still under old keys: %w", left, ctx.Err())
		case <-time.After(opt.Pause):
		}
	}
}

// OldCount counts values not sealed under kr's primary key.
func OldCount(ctx context.Context, kr *Keyring, stores ...Store) (int64, error) {
	primary := kr.PrimaryID()
	var left int64
	for _, s := range stores {
		counts, err := s.CountByKey(ctx)
		if err != nil {
			return 0, fmt.Errorf("count %s: %w", s.Name(), err)
		}
		for id, n := range counts {
			if id != primary {
				left += n
			}
		}
	}
	return left, nil
}

func sortedKeys(m map[string]int64) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
