package probetest

import "container/list"

// blockTokens is the size of a prefix-cache block, vLLM's default.
const blockTokens = 16

// blockKeys returns a key for each full block of ids: a 64-bit FNV-1a
// hash of every token up to the block's end, so that, as with vLLM's
// hashes chained from block to block, equal keys mean equal prefixes.
func blockKeys(ids []uint32) []uint64 {
	keys := make([]uint64, 0, len(ids)/blockTokens)
	h := uint64(14695981039346656037)
	for i, id := range ids {
		for range 4 {
			h ^= uint64(id & 0xff)
			h *= 1099511628211
			id >>= 8
		}
		if (i+1)%blockTokens == 0 {
			keys = append(keys, h)
		}
	}
	return keys
}

// prefixCache holds blocks by key up to a capacity, evicting the least
// recently used. It is the scheduler's own; not safe for concurrent use.
type prefixCache struct {
	capacity int        // blocks
	lru      *list.List // of keys, the most recently used first
	blocks   map[uint64]*list.Element
}

func newPrefixCache(tokens int) *prefixCache {
	return &prefixCache{capacity: max(tokens/blockTokens, 1), lru: list.New(), blocks: map[uint64]*list.Element{}}
}

// lookup returns how many leading blocks of keys are cached.
func (c *prefixCache) lookup(keys []uint64) int {
	for i, k := range keys {
		if _, ok := c.blocks[k]; !ok {
			return i
		}
	}
	return len(keys)
}

// insert caches the blocks of keys, or marks them used if cached.
func (c *prefixCache) insert(keys []uint64) {
	// The last block first, so that a sequence's first block is its most
	// recently used: eviction takes a prefix's tail before its head and
	// what remains is still a prefix (vLLM frees a sequence's blocks in
	// reverse for the same reason).
	for i := len(keys) - 1; i >= 0; i-- {
		if e, ok := c.blocks[keys[i]]; ok {
			c.lru.MoveToFront(e)
			continue
		}
		c.blocks[keys[i]] = c.lru.PushFront(keys[i])
		if c.lru.Len() > c.capacity {
			delete(c.blocks, c.lru.Remove(c.lru.Back()).(uint64))
		}
	}
}
