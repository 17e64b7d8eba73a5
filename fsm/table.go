package fsm

import (
	"maps"
	"slices"

	"google.golang.org/protobuf/proto"
)

// table holds one kind of record (members, workloads, ...) by name, and remembers which names
// changed since the state was last published (FSM.Data).
//
// The applier reaches records through get, put, del and touch, which all mark the name as
// changed: get returns the live record, which the applier may change in place, so a get is
// counted as a change. Code that only reads (queries, the census, snapshots, loops over every
// record that change nothing) reads m directly and marks nothing. Publishing clones only the
// changed records, so its cost follows the size of the change, not of the state.
type table[T proto.Message] struct {
	m       map[string]T
	changed map[string]struct{}
	all     bool // every record counts as changed: a new table (restore, declaration)

	// by finds records by a secondary key (lookup): key -> names. It is built on the first
	// lookup and kept up to date by put and del, so it must only index fields that are never
	// changed in place through get.
	byKey func(T) string
	by    map[string][]string

	// shared is set on a fork: the records of m not in own are the parent table's and are
	// cloned before get hands them out for writing, so the parent is never changed.
	shared bool
	own    map[string]struct{}
}

func newTable[T proto.Message]() *table[T] {
	return &table[T]{m: map[string]T{}, changed: map[string]struct{}{}, all: true}
}

// tableOf wraps m (not copied) as a table whose records all count as changed.
func tableOf[T proto.Message](m map[string]T) *table[T] {
	if m == nil {
		m = map[string]T{}
	}
	return &table[T]{m: m, changed: map[string]struct{}{}, all: true}
}

// get returns the live record (the zero T when there is none) for the applier to read or
// change; an existing record counts as changed.
func (t *table[T]) get(name string) T {
	v, ok := t.m[name]
	if ok {
		if t.shared {
			if _, mine := t.own[name]; !mine {
				v = proto.Clone(v).(T)
				t.m[name], t.own[name] = v, struct{}{}
			}
		}
		t.changed[name] = struct{}{}
	}
	return v
}

// has reports whether a record exists; it marks nothing.
func (t *table[T]) has(name string) bool {
	_, ok := t.m[name]
	return ok
}

// put stores v under name.
func (t *table[T]) put(name string, v T) {
	if t.by != nil {
		if old, ok := t.m[name]; ok {
			t.unindex(name, old)
		}
		k := t.byKey(v)
		t.by[k] = append(t.by[k], name)
	}
	t.m[name] = v
	if t.shared {
		t.own[name] = struct{}{}
	}
	t.changed[name] = struct{}{}
}

// del removes the record of name.
func (t *table[T]) del(name string) {
	if old, ok := t.m[name]; ok && t.by != nil {
		t.unindex(name, old)
	}
	delete(t.m, name)
	t.changed[name] = struct{}{}
}

// lookup returns the names of the records whose key (as key computes it) is k, in no order; the
// caller must not keep or change the slice. A table is looked up by one key function only.
// It marks nothing.
func (t *table[T]) lookup(key func(T) string, k string) []string {
	if t.by == nil {
		t.byKey, t.by = key, make(map[string][]string, len(t.m))
		for name, v := range t.m {
			kk := key(v)
			t.by[kk] = append(t.by[kk], name)
		}
	}
	return t.by[k]
}

func (t *table[T]) unindex(name string, old T) {
	k := t.byKey(old)
	names := t.by[k]
	if i := slices.Index(names, name); i >= 0 {
		names[i] = names[len(names)-1]
		names = names[:len(names)-1]
	}
	if len(names) == 0 {
		delete(t.by, k)
	} else {
		t.by[k] = names
	}
}

// touch marks name as changed: for a record the applier changes through a pointer it did not
// take with get (a loop over m).
func (t *table[T]) touch(name string) { t.changed[name] = struct{}{} }

// pending reports whether a record changed since the last takeChanges.
func (t *table[T]) pending() bool { return t.all || len(t.changed) > 0 }

// len is the number of records.
func (t *table[T]) len() int { return len(t.m) }

// fork returns a copy-on-write copy of t, for changes that may be thrown away (a declaration is
// all or nothing): it copies the map of records, not the records, and clones a record only
// when get hands it out for writing. t must not change while the fork is in use; the fork keeps
// t's change marks, so that, kept in t's place, it publishes what changed in either.
func (t *table[T]) fork() *table[T] {
	return &table[T]{m: maps.Clone(t.m), changed: maps.Clone(t.changed), all: t.all, shared: true, own: map[string]struct{}{}}
}

// adopt makes a fork that replaced its parent an ordinary table: its records are its own.
func (t *table[T]) adopt() { t.shared, t.own = false, nil }

// clone returns a deep copy (for snapshots); it counts as all changed.
func (t *table[T]) clone() *table[T] { return tableOf(cloneMap(t.m)) }

// tableChange is what one publication takes from a table: frozen copies of the changed records
// (nil value: deleted), or the whole table frozen when all is set.
type tableChange[T proto.Message] struct {
	all     bool
	records map[string]T
	deleted []string
}

// takeChanges freezes the changed records and forgets the marks. It runs under the FSM's
// write lock; its cost is that of the changed records.
func (t *table[T]) takeChanges() tableChange[T] {
	if t.all {
		t.all = false
		clear(t.changed)
		return tableChange[T]{all: true, records: cloneMap(t.m)}
	}
	if len(t.changed) == 0 {
		return tableChange[T]{}
	}
	c := tableChange[T]{records: make(map[string]T, len(t.changed))}
	for name := range t.changed {
		if v, ok := t.m[name]; ok {
			c.records[name] = proto.Clone(v).(T)
		} else {
			c.deleted = append(c.deleted, name)
		}
	}
	clear(t.changed)
	return c
}

// publish returns the published map after c: prev itself when nothing changed, else a copy of
// prev's entries (pointers to frozen records, shared with prev) with c laid over it. It runs
// outside the FSM's lock.
func (c tableChange[T]) publish(prev map[string]T) map[string]T {
	switch {
	case c.all:
		return c.records
	case len(c.records) == 0 && len(c.deleted) == 0 && prev != nil:
		return prev
	}
	out := maps.Clone(prev)
	if out == nil {
		out = map[string]T{}
	}
	maps.Copy(out, c.records)
	for _, name := range c.deleted {
		delete(out, name)
	}
	return out
}
