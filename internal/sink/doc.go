// Package sink owns the contract between syncd's stream loops and the SQL
// databases they write to (Writer, Tx, Result, Admin, Sink), and the one flow
// every dialect runs: registering, creating and evolving entity tables, and
// the transaction skeleton (state, txid de-duplication, conversion-NULL
// counts). Each dialect (postgres, sqlite) supplies its SQL through Dialect
// and TxDriver.
package sink
