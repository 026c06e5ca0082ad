package probetest

import (
	"slices"
	"testing"
)

func TestBlockKeysChainPrefixes(t *testing.T) {
	ids := func(first, n int) []uint32 {
		s := make([]uint32, n)
		for i := range s {
			s[i] = uint32(first + i)
		}
		return s
	}
	a := blockKeys(ids(0, 40))
	if len(a) != 2 {
		t.Fatalf("40 tokens gave %d keys, want 2 full blocks", len(a))
	}
	// The same first 32 tokens, then others: the same keys.
	if b := blockKeys(append(ids(0, 32), 7)); !slices.Equal(a, b) {
		t.Errorf("keys %v and %v differ for the same full blocks", a, b)
	}
	// Another first token and the same second block: a key keys the
	// whole prefix, not its own block alone.
	other := ids(0, 32)
	other[0] = 99
	if b := blockKeys(other); b[0] == a[0] || b[1] == a[1] {
		t.Errorf("keys %v and %v share a block after different prefixes", a, b)
	}
}

func TestPrefixCacheEvictsTailsFirst(t *testing.T) {
	chain := func(first uint64, n int) []uint64 {
		s := make([]uint64, n)
		for i := range s {
			s[i] = first + uint64(i)
		}
		return s
	}
	a, b, c := chain(100, 3), chain(200, 3), chain(300, 2)
	cache := newPrefixCache(4 * blockTokens)
	for _, step := range []struct {
		insert              []uint64
		wantA, wantB, wantC int
		why                 string
	}{
		{a, 3, 0, 0, "room for a"},
		// b needs two of a's blocks: a keeps its head, still a prefix.
		{b, 1, 3, 0, "a's tail evicted for b"},
		{a[:1], 1, 3, 0, "a's head used again"},
		// c needs two blocks: the least recently used are b's last two.
		{c, 1, 1, 2, "b's tail evicted for c, a's head kept"},
	} {
		cache.insert(step.insert)
		if gotA, gotB, gotC := cache.lookup(a), cache.lookup(b), cache.lookup(c); gotA != step.wantA || gotB != step.wantB || gotC != step.wantC {
			t.Errorf("%s: a, b, c have %d, %d, %d leading blocks cached, want %d, %d, %d",
				step.why, gotA, gotB, gotC, step.wantA, step.wantB, step.wantC)
		}
		if n := len(cache.blocks); n > 4 || n != cache.lru.Len() {
			t.Errorf("%s: %d blocks in the map, %d in the list, capacity 4", step.why, n, cache.lru.Len())
		}
	}
}
