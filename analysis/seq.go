package analysis

// seqCheck finds, over the rows of a run's load, those recorded twice
// and the arrivals of its schedule that no row holds. An arrival's seq
// numbers it from 1 in schedule order, and every turn of a conversation
// carries its first arrival's seq, so (seq, turn) names a row; a number
// no turn-0 row holds is a gap (an arrival dropped, or in a part not
// read). Rows without a seq (recorded before the column existed) are
// not checked.
//
// The pairs seen are bits. Turn 0, one row per arrival of consecutive
// numbers, lies in a flat array of words indexed by seq/64: a bit per
// arrival, 1.25 MB for 10 M of them. Later turns lie in a map from
// (turn, seq/64) to a word: conversations of neighbouring numbers share
// a word at each turn, so a run of multi-turn conversations costs a few
// bits a row where a map of pairs costs an entry (about 30 bytes) a row,
// and a lone row never costs more than that entry. A turn-0 seq past
// flatSeqs (damaged data, or a run of over a hundred million arrivals)
// goes to the map too: a wild value cannot allocate a huge array.
type seqCheck struct {
	flat   []uint64
	sparse map[seqWord]uint64
	// arrivals counts the turn-0 seqs seen, last is the largest.
	arrivals, last int64
	// dups counts the rows of a pair seen before; firstDup is the
	// lowest seq among them.
	dups, firstDup int64
}

// seqWord names the word of a later turn's bits: 64 seqs from 64·word.
type seqWord struct {
	turn int32
	word int64
}

// flatSeqs bounds the seqs of the flat array: 16 MB of it at most.
const flatSeqs = 1 << 27

func newSeqCheck() *seqCheck { return &seqCheck{sparse: map[seqWord]uint64{}} }

// add counts the row of arrival seq, turn turn.
func (c *seqCheck) add(seq int64, turn int32) {
	if seq <= 0 || turn < 0 {
		return
	}
	bit := uint64(1) << (seq & 63)
	var seen bool
	if i := int(seq >> 6); turn == 0 && seq < flatSeqs {
		if i >= len(c.flat) {
			c.flat = append(c.flat, make([]uint64, i+1-len(c.flat))...)
		}
		seen = c.flat[i]&bit != 0
		c.flat[i] |= bit
	} else {
		k := seqWord{turn, seq >> 6}
		w := c.sparse[k]
		seen = w&bit != 0
		c.sparse[k] = w | bit
	}
	switch {
	case seen:
		c.dups++
		if c.firstDup == 0 || seq < c.firstDup {
			c.firstDup = seq
		}
	case turn == 0:
		c.arrivals++
		c.last = max(c.last, seq)
	}
}

// gaps counts the numbers from 1 to the largest turn-0 seq that no
// turn-0 row holds.
func (c *seqCheck) gaps() int64 { return c.last - c.arrivals }
