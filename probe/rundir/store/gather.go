package store

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/capfinder/capfinder/probe/rundir"
)

// Gathered is what Gather took in from one agent's directory.
type Gathered struct {
	// Dir is the agent's directory, Agent its agent.json.
	Dir   string
	Agent rundir.AgentInfo
	// Parts counts the agent's parts, Copied those copied into the run
	// (the others were there already, the same), Rows the rows of the
	// parts' footers and Damaged the parts without a readable footer
	// (copied all the same: analysis reads what it can of them).
	Parts, Copied, Damaged int
	Rows                   int64
}

// GatherError is an agent's directory that Gather refuses: not an
// agent's, another run's, an index outside the fleet or given twice, or
// parts that differ from those the run already holds for the agent.
type GatherError struct {
	Dir string
	Why string
}

func (e *GatherError) Error() string { return fmt.Sprintf("store: %s: %s", e.Dir, e.Why) }

// Gather copies into the run in dir, sent by fleet, the request parts of
// agents that wrote directories of their own: AGENTDIR/agent.json and
// AGENTDIR/requests/agent=<i>/part-*.parquet go to
// dir/requests/agent=<i>/, each part written whole or not at all.
//
// Every directory is checked before anything is copied, and any that
// does not belong is a *GatherError with nothing copied. Parts the run
// already holds for the agent, identical, are kept, so Gather may be run
// again; the run holding a part of the agent that was not given, or
// another under the same name, is refused. The result is in agentDirs'
// order.
func Gather(dir string, fleet rundir.Fleet, agentDirs []string) ([]Gathered, error) {
	held, err := Parts(dir)
	if err != nil {
		return nil, err
	}
	type plan struct {
		g    Gathered
		copy []string
	}
	plans := make([]plan, len(agentDirs))
	given := map[int]string{}
	for k, adir := range agentDirs {
		p := &plans[k]
		p.g.Dir = adir
		a := &p.g.Agent
		if err := rundir.ReadJSON(filepath.Join(adir, rundir.AgentJSON), a); err != nil {
			return nil, &GatherError{adir, fmt.Sprintf("not an agent's directory (%v)", err)}
		}
		switch {
		case a.RunID != fleet.RunID:
			return nil, &GatherError{adir, fmt.Sprintf("agent %d of run %q, not of this run (%q)", a.Index, a.RunID, fleet.RunID)}
		case a.Agents != fleet.Agents:
			return nil, &GatherError{adir, fmt.Sprintf("agent.json counts %d agents, the run %d", a.Agents, fleet.Agents)}
		case a.Index < 0 || a.Index >= fleet.Agents:
			return nil, &GatherError{adir, fmt.Sprintf("agent index %d is outside the run's %d agents (0 to %d)", a.Index, fleet.Agents, fleet.Agents-1)}
		case given[a.Index] != "":
			return nil, &GatherError{adir, fmt.Sprintf("agent %d was given twice (also %s)", a.Index, given[a.Index])}
		}
		given[a.Index] = adir
		parts, err := Parts(adir)
		if err != nil {
			return nil, err
		}
		// The parts the run holds for the agent, by name.
		have := map[string]string{}
		for _, h := range held {
			if i, ok := PartAgent(h); ok && i == a.Index {
				have[filepath.Base(h)] = h
			}
		}
		sub := rundir.PartsDir + "/" + rundir.AgentDir(a.Index)
		for _, src := range parts {
			name := filepath.Base(src)
			if i, ok := PartAgent(src); !ok || i != a.Index {
				rel, _ := filepath.Rel(adir, src)
				return nil, &GatherError{adir, fmt.Sprintf("holds %s, where agent %d's parts are %s/", filepath.ToSlash(rel), a.Index, sub)}
			}
			p.g.Parts++
			if n, err := PartRows(src); err == nil {
				p.g.Rows += n
			} else {
				p.g.Damaged++
			}
			dst, ok := have[name]
			delete(have, name)
			if !ok {
				p.copy = append(p.copy, src)
				continue
			}
			same, err := sameContent(src, dst)
			if err != nil {
				return nil, &GatherError{adir, err.Error()}
			}
			if !same {
				return nil, &GatherError{adir, fmt.Sprintf("%s/%s differs from the run's file of that name: the run already holds other records for agent %d", sub, name, a.Index)}
			}
		}
		if len(have) > 0 {
			extra := make([]string, 0, len(have))
			for name := range have {
				extra = append(extra, sub+"/"+name)
			}
			slices.Sort(extra)
			return nil, &GatherError{adir, fmt.Sprintf("the run holds %s, which this directory lacks: the run already holds other records for agent %d", strings.Join(extra, ", "), a.Index)}
		}
	}
	out := make([]Gathered, len(plans))
	for k := range plans {
		p := &plans[k]
		to := filepath.Join(dir, rundir.PartsDir, rundir.AgentDir(p.g.Agent.Index))
		if len(p.copy) > 0 {
			if err := os.MkdirAll(to, 0o755); err != nil {
				return nil, fmt.Errorf("store: %w", err)
			}
		}
		for _, src := range p.copy {
			if err := copyFile(src, filepath.Join(to, filepath.Base(src))); err != nil {
				return nil, err
			}
			p.g.Copied++
		}
		out[k] = p.g
	}
	return out, nil
}

// copyFile copies the file at src to dst, which a reader sees whole or
// not at all.
func copyFile(src, dst string) error {
	f, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	defer f.Close()
	return rundir.WriteFileAtomic(dst, func(w io.Writer) error {
		_, err := io.Copy(w, f)
		return err
	})
}

// sameContent reports whether the files at a and b hold the same bytes.
func sameContent(a, b string) (bool, error) {
	fa, err := os.Open(a)
	if err != nil {
		return false, fmt.Errorf("store: %w", err)
	}
	defer fa.Close()
	fb, err := os.Open(b)
	if err != nil {
		return false, fmt.Errorf("store: %w", err)
	}
	defer fb.Close()
	sa, err := fa.Stat()
	if err != nil {
		return false, err
	}
	sb, err := fb.Stat()
	if err != nil {
		return false, err
	}
	if os.SameFile(sa, sb) {
		return true, nil
	}
	if sa.Size() != sb.Size() {
		return false, nil
	}
	ba, bb := make([]byte, 64<<10), make([]byte, 64<<10)
	for {
		na, ea := io.ReadFull(fa, ba)
		nb, eb := io.ReadFull(fb, bb)
		if !bytes.Equal(ba[:na], bb[:nb]) {
			return false, nil
		}
		if ea == io.EOF || ea == io.ErrUnexpectedEOF {
			return eb == ea, nil
		}
		if ea != nil {
			return false, ea
		}
		if eb != nil {
			return false, eb
		}
	}
}

// MissingAgents lists the agents of a run of n that have no parts in
// its directory.
func MissingAgents(dir string, n int) ([]int, error) {
	parts, err := Parts(dir)
	if err != nil {
		return nil, err
	}
	have := map[int]bool{}
	for _, p := range parts {
		if i, ok := PartAgent(p); ok {
			have[i] = true
		}
	}
	var missing []int
	for i := range n {
		if !have[i] {
			missing = append(missing, i)
		}
	}
	return missing, nil
}
