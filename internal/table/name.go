package table

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// MaxName is the longest entity table name in bytes (Postgres's
// identifier limit, applied to both dialects so a type gets the same table
// everywhere).
const MaxName = 63

// reservedPrefixes are name prefixes an entity table never takes as is:
// syncd_ is syncd's own namespace, sqlite_ is reserved by SQLite.
var reservedPrefixes = []string{"syncd_", "sqlite_"}

// DefaultName returns the default entity table name of an entity type: the type
// lower-cased, every character outside [a-z0-9_] replaced by '_', a 't_'
// prefix when it starts with a digit, cut to MaxName bytes. The result
// may still be unusable (empty, reserved, or taken by another type): see
// Reserved and SuffixedName.
func DefaultName(typ string) string {
	var b strings.Builder
	b.Grow(len(typ))
	for _, r := range strings.ToLower(typ) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '_':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	name := b.String()
	if name != "" && name[0] >= '0' && name[0] <= '9' {
		name = "t_" + name
	}
	return truncate(name, MaxName)
}

// Reserved reports whether name cannot be an entity table's name even when
// no other type holds it: it is empty or starts with syncd_ or sqlite_.
func Reserved(name string) bool {
	if name == "" {
		return true
	}
	for _, p := range reservedPrefixes {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// SuffixedName returns the name a type gets when its default name is
// reserved or taken: the default name (cut to fit) followed by '_' and the
// first hexLen hex digits of the SHA-256 of the type, so it is deterministic
// and the same in every replica. A name starting with sqlite_ gets the t_
// prefix first, since SQLite refuses it whatever follows.
func SuffixedName(typ string, hexLen int) string {
	sum := sha256.Sum256([]byte(typ))
	suffix := "_" + hex.EncodeToString(sum[:])[:hexLen]
	base := DefaultName(typ)
	if strings.HasPrefix(base, "sqlite_") {
		base = "t_" + base
	}
	return truncate(base, MaxName-len(suffix)) + suffix
}

// CandidateNames returns, in order of preference, the names a type may
// take: its default name unless reserved, then suffixed names of growing
// length. A sink registers the first one not held by another type.
func CandidateNames(typ string) []string {
	var names []string
	if name := DefaultName(typ); !Reserved(name) {
		names = append(names, name)
	}
	return append(names, SuffixedName(typ, 8), SuffixedName(typ, 16))
}

// truncate cuts an ASCII name to at most n bytes.
func truncate(name string, n int) string {
	if len(name) > n {
		return name[:n]
	}
	return name
}

// historySuffix ends the name of every history table.
const historySuffix = "_history"

// HistoryName returns the name of an entity table's history table: the
// table's name plus _history, or, when that passes MaxName, the name cut to
// fit with '_' and 8 hex digits of the SHA-256 of the full table name before
// the suffix (the rule of SuffixedName), so it is deterministic and distinct.
func HistoryName(entity string) string {
	if len(entity)+len(historySuffix) <= MaxName {
		return entity + historySuffix
	}
	sum := sha256.Sum256([]byte(entity))
	hash := "_" + hex.EncodeToString(sum[:4])
	return truncate(entity, MaxName-len(hash)-len(historySuffix)) + hash + historySuffix
}
