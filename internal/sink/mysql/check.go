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
	return ""
}
