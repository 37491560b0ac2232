package mysql

import (
	"fmt"
	"unicode/utf8"

	"github.com/syncd-io/syncd/internal/state"
)

// CheckChange returns why a change cannot be stored on MySQL, or "": the
// primary keys of the entity tables, syncd_types and syncd_txids bound the
// length of keys, types and txids (InnoDB's 3,072-byte index limit at 4
// bytes a character), and max_allowed_packet bounds one row.
func (s *Sink) CheckChange(c state.Change) string {
	switch {
	case utf8.RuneCountInString(c.Key) > maxKeyChars:
		return fmt.Sprintf("key of %d characters is longer than the %d characters a MySQL entity table's key holds",
			utf8.RuneCountInString(c.Key), maxKeyChars)
	case utf8.RuneCountInString(c.Type) > maxTypeChars:
		return fmt.Sprintf("type of %d characters is longer than the %d characters MySQL's syncd_types holds",
			utf8.RuneCountInString(c.Type), maxTypeChars)
	case utf8.RuneCountInString(c.TxID) > maxTxIDChars:
		return fmt.Sprintf("txid of %d characters is longer than the %d characters MySQL's syncd_txids holds",
			utf8.RuneCountInString(c.TxID), maxTxIDChars)
	case 2*(len(c.Value)+len(c.Key))+4096 > s.packetBudget():
		return fmt.Sprintf("value of %d bytes does not fit the server's max_allowed_packet of %d bytes",
			len(c.Value), s.server.maxPacket)
	}
	if d, limit := jsonDepth(c.Value), s.maxDepth(); d > limit {
		return fmt.Sprintf("value nests %d levels deep; this server's JSON holds at most %d", d, limit)
	}
	return ""
}

// maxDepth is the deepest nesting of arrays and objects the server's JSON
// accepts: MariaDB's JSON_VALID refuses 32 levels, MySQL's JSON 101.
func (s *Sink) maxDepth() int {
	if s.server.mariaDB {
		return 31
	}
	return 100
}

// jsonDepth returns how deeply arrays and objects nest in a valid JSON text.
func jsonDepth(v []byte) int {
	depth, deepest, inString := 0, 0, false
	for i := 0; i < len(v); i++ {
		switch c := v[i]; {
		case inString && c == '\\':
			i++
		case c == '"':
			inString = !inString
		case inString:
		case c == '[' || c == '{':
			depth++
			deepest = max(deepest, depth)
		case c == ']' || c == '}':
			depth--
		}
	}
	return deepest
}
