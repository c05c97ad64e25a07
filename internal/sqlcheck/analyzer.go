package sqlcheck

import (
	"container/list"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"

	pg_query "github.com/pganalyze/pg_query_go/v5"
)

// DefaultCacheSize is the number of distinct SQL texts an Analyzer remembers.
const DefaultCacheSize = 4096

// maxCachedLen keeps one huge generated statement from pinning memory.
const maxCachedLen = 64 << 10

// Analyzer analyzes SQL for one tenant setting and caches the results. It is
// safe for concurrent use.
type Analyzer struct {
	setting string
	size    int
	// column is the tenant column of the scope analysis; "" for none.
	column string
	// names are the relation names whose mention makes a text worth
	// parsing for the scope analysis (tenant-owned tables and views).
	names atomic.Pointer[map[string]bool]
	// rewrite holds the relations the rewrite scopes, when it is on.
	rewrite atomic.Pointer[rewriteTables]

	mu      sync.Mutex // protects following fields
	entries map[string]*list.Element
	lru     list.List // front is most recently used; values are *entry
}

type entry struct {
	sql string
	a   *Analysis
	err error
}

// NewAnalyzer returns an Analyzer that treats setting (a GUC name) as the
// tenant setting and caches up to size texts (DefaultCacheSize if size <= 0).
func NewAnalyzer(setting string, size int) *Analyzer {
	if size <= 0 {
		size = DefaultCacheSize
	}
	return &Analyzer{setting: strings.ToLower(setting), size: size, entries: make(map[string]*list.Element)}
}

// NewScopeAnalyzer returns an Analyzer that also runs the scope analysis
// for the tenant column column (Analysis.Scope), from the same parse.
// SetRelations tells it which relation names make a text worth parsing.
func NewScopeAnalyzer(setting, column string, size int) *Analyzer {
	z := NewAnalyzer(setting, size)
	z.column = column
	return z
}

// SetRelations sets the relation names (unqualified) whose mention in a
// text sends it to the parser, so that its scope is analysed. Texts
// analysed before keep their (complete) analysis: the scope analysis does
// not depend on the names.
func (z *Analyzer) SetRelations(names []string) {
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[strings.ToLower(n)] = true
	}
	// Functions that read tables the text does not name.
	for _, f := range UnverifiableFuncs() {
		m[f] = true
	}
	z.names.Store(&m)
}

type rewriteTables struct{ t Tables }

// SetRewrite makes the analyses of a scope Analyzer carry the rewrite
// (Analysis.Rewrite) of each text that needs one, for the tenant-owned
// relations of t (nil: no rewrite). It empties the cache: the rewrites
// depend on t.
func (z *Analyzer) SetRewrite(t Tables) {
	if t == nil {
		z.rewrite.Store(nil)
	} else {
		z.rewrite.Store(&rewriteTables{t})
	}
	z.mu.Lock()
	defer z.mu.Unlock()
	z.entries = make(map[string]*list.Element)
	z.lru.Init()
}

func (z *Analyzer) rewriteTables() Tables {
	if p := z.rewrite.Load(); p != nil {
		return p.t
	}
	return nil
}

// namesRelation reports whether a word of sql, lower-cased, is one of the
// relation names (quoted names included, conservatively).
func (z *Analyzer) namesRelation(sql string) bool {
	p := z.names.Load()
	if p == nil || len(*p) == 0 {
		return false
	}
	names := *p
	var buf [64]byte
	for i := 0; i < len(sql); {
		if !isWordByte(sql[i]) {
			i++
			continue
		}
		j := i
		for j < len(sql) && isWordByte(sql[j]) {
			j++
		}
		if n := j - i; n <= len(buf) {
			w := buf[:n]
			for k := 0; k < n; k++ {
				c := sql[i+k]
				if c >= 'A' && c <= 'Z' {
					c += 'a' - 'A'
				}
				w[k] = c
			}
			if names[string(w)] {
				return true
			}
		}
		i = j
	}
	return false
}

// Analyze returns the analysis of sql. A text that contains none of the words
// that could make it interesting (see mustParse) is not parsed at all;
// others are parsed once and cached. A parse failure is returned as an error
// wrapping ErrSyntax (and cached like a result). The returned Analysis must
// not be modified.
func (z *Analyzer) Analyze(sql string) (a *Analysis, err error) {
	// A fault of the analysis refuses the statement; it never takes the
	// application down (the caller's goroutine would panic).
	defer func() {
		if r := recover(); r != nil {
			a, err = nil, fmt.Errorf("%w: the analysis failed: %v", ErrSyntax, r)
		}
	}()
	if strings.IndexByte(sql, 0) >= 0 {
		// The parser stops at a NUL (the server refuses the text): what
		// it reads is not the text, nor may it meet a cache key.
		return nil, errNUL
	}
	if !mustParse(sql) {
		if !z.namesRelation(sql) {
			// Decided without the lock or the cache: the scan is cheap,
			// and such texts (statements with inlined values, say) would
			// crowd it.
			return plain, nil
		}
		// Only the scope analysis needs a parse: of the text's shape,
		// shared by every text that differs from it in literals only.
		// (Not a text with pgx named arguments: they are analysed as pgx
		// numbers them, per text.)
		if shape, offsets, ok := lift(sql); ok && len(offsets) > 0 && !hasNamedArg(sql) {
			if a, err := z.cached(shapeKey+shape, func() (*Analysis, error) { return analyzeShape(shape, z.setting, z.column, z.rewriteTables()) }); err == nil {
				return a, nil
			}
		}
	}
	return z.cached(sql, func() (*Analysis, error) { return analyzeScope(sql, z.setting, z.column, z.rewriteTables()) })
}

// shapeKey prefixes the cache key of a text's shape, so that a shape never
// meets a text that is written with parameters.
const shapeKey = "\x00shape:"

// analyzeShape is the analysis of a lifted text: plain for the tamper
// check (the text had nothing it looks for), and the shape's scope.
func analyzeShape(shape, setting, column string, rw Tables) (*Analysis, error) {
	tree, err := pg_query.Parse(shape)
	if err != nil || len(tree.Stmts) != 1 {
		return nil, errNoShape
	}
	a := &Analysis{Statements: 1, Scope: scope(tree, shape, column, setting), Lifted: true}
	if rw != nil {
		a.Rewrite, a.RewriteErr = rewriteTree(tree, shape, nil, column, setting, rw, true)
	}
	return a, nil
}

var errNoShape = errors.New("sqlcheck: the text's shape does not parse")

var errNUL = fmt.Errorf("%w: the text holds a NUL byte", ErrSyntax)

// cached returns the analysis of key from the cache, or computes and
// caches it.
func (z *Analyzer) cached(key string, compute func() (*Analysis, error)) (*Analysis, error) {
	z.mu.Lock()
	if el, ok := z.entries[key]; ok {
		z.lru.MoveToFront(el)
		e := el.Value.(*entry)
		z.mu.Unlock()
		return e.a, e.err
	}
	z.mu.Unlock()

	// Parse outside the lock: it is the slow part, and two goroutines
	// parsing the same new text at once only do the work twice.
	rw := z.rewrite.Load()
	a, err := compute() // errNoShape is cached too: the shape is tried once
	sql := key
	if len(sql) > maxCachedLen {
		return a, err
	}

	z.mu.Lock()
	defer z.mu.Unlock()
	if z.rewrite.Load() != rw {
		return a, err // SetRewrite ran meanwhile: a is for the old relations
	}
	if _, ok := z.entries[sql]; !ok {
		z.entries[sql] = z.lru.PushFront(&entry{sql: sql, a: a, err: err})
		if z.lru.Len() > z.size {
			oldest := z.lru.Back()
			z.lru.Remove(oldest)
			delete(z.entries, oldest.Value.(*entry).sql)
		}
	}
	return a, err
}

// Len reports how many texts are cached.
func (z *Analyzer) Len() int {
	z.mu.Lock()
	defer z.mu.Unlock()
	return z.lru.Len()
}
